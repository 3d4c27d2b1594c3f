"""POST /api/v1/usage/: batches of up to 1,000 events, idempotent per API key and event id,
checked against the tracking plan (issue 14 item 1)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.customers.services import customer_identifier_link
from accounts.models import CustomerIdentifier
from integrations.models import DomainEvent
from tests.factories import make_customer
from usage.models import (
    CustomerFeatureUsage,
    CustomerUsage,
    CustomerUsageDay,
    PropertyType,
    QuarantinedUsageEvent,
    TrackedEvent,
    TrackedProperty,
    UsageEvent,
)

pytestmark = pytest.mark.django_db
NOW = datetime.now(tz=UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _clear_throttle_cache():
    cache.clear()


@pytest.fixture
def api():
    _, raw = api_key_create(name="product", scopes=["usage:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def plan():
    report = TrackedEvent.objects.create(name="report_exported", feature_property="")
    TrackedProperty.objects.create(
        event=report, name="format", type=PropertyType.STRING, required=True
    )
    TrackedProperty.objects.create(event=report, name="rows", type=PropertyType.INTEGER)
    TrackedProperty.objects.create(event=report, name="seconds", type=PropertyType.NUMBER)
    TrackedProperty.objects.create(event=report, name="scheduled", type=PropertyType.BOOLEAN)
    TrackedProperty.objects.create(event=report, name="since", type=PropertyType.DATETIME)
    return report


def _event(i, customer, *, event="report_exported", when=NOW, **properties):
    return {
        "id": f"evt-{i}",
        "customer": {"email": customer.email},
        "event": event,
        "timestamp": when.isoformat(),
        "properties": {"format": "csv", **properties},
    }


def _post(api, events):
    return api.post("/api/v1/usage/", {"events": events}, format="json")


def test_a_batch_is_accepted_counted_and_on_the_timeline(api, plan):
    bia = make_customer(email="bia@example.test")
    events = [
        _event(i, bia, rows=10, seconds=1.5, scheduled=False, since="2026-01-01T00:00:00-03:00")
        for i in range(5)
    ]
    response = _post(api, events)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["quarantined"]) == (5, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 5
    assert UsageEvent.objects.filter(customer=bia).count() == 5
    assert CustomerUsage.objects.get(customer_id=bia.pk).events == 5
    timeline = DomainEvent.objects.filter(customer=bia, type="usage.tracked")
    assert timeline.count() == 5
    assert timeline.get(data__client_event_id="evt-0").data["properties"]["scheduled"] == "false"


def test_a_retried_batch_counts_once(api, plan):
    bia = make_customer(email="bia@example.test")
    events = [_event(i, bia) for i in range(3)]
    assert _post(api, events).json()["accepted"] == 3
    again = _post(api, [*events, _event(3, bia)]).json()
    assert (again["accepted"], again["duplicates"]) == (1, 3)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3 + ["accepted"]
    assert UsageEvent.objects.count() == 4
    assert CustomerUsage.objects.get(customer_id=bia.pk).events == 4
    assert CustomerUsageDay.objects.get(customer_id=bia.pk).events == 4
    assert DomainEvent.objects.filter(type="usage.tracked").count() == 4


def test_an_id_repeated_inside_one_batch_counts_once(api, plan):
    bia = make_customer(email="bia@example.test")
    body = _post(api, [_event(1, bia), _event(1, bia)]).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]
    assert UsageEvent.objects.count() == 1


def test_ids_are_per_api_key(api, plan):
    bia = make_customer(email="bia@example.test")
    _, raw = api_key_create(name="other product", scopes=["usage:write"])
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert _post(api, [_event(1, bia)]).json()["accepted"] == 1
    assert _post(other, [_event(1, bia)]).json()["accepted"] == 1
    assert UsageEvent.objects.count() == 2


def test_1001_events_are_refused_and_nothing_is_stored(api, plan):
    bia = make_customer(email="bia@example.test")
    response = _post(api, [_event(i, bia) for i in range(1001)])
    assert response.status_code == 400
    assert response.json()["code"] == "usage_batch_too_many_events"
    assert "at most 1000" in response.json()["detail"]
    assert not UsageEvent.objects.exists() and not QuarantinedUsageEvent.objects.exists()


def test_1000_events_are_taken(api, plan):
    bia = make_customer(email="bia@example.test")
    response = _post(api, [_event(i, bia) for i in range(1000)])
    assert response.status_code == 202
    assert response.json()["accepted"] == 1000


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"events": {"id": "x"}}, '"events" must be a list'),
        ({"events": []}, "empty"),
        ([{"id": "x"}], "JSON object"),
        ({"events": ["x"]}, "events[0] must be an object"),
        ({"events": [{"event": "report_exported"}]}, "events[0].id"),
        ({"events": [{"id": ""}]}, "events[0].id"),
        ({"events": [{"id": "x" * 129}]}, "events[0].id"),
    ],
)
def test_a_malformed_batch_is_a_400_that_says_why(api, plan, body, says):
    response = api.post("/api/v1/usage/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "usage_batch_malformed"
    assert says in response.json()["detail"]
    assert not QuarantinedUsageEvent.objects.exists()


def test_deeply_nested_json_is_a_400(api):
    body = '{"events": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api.post("/api/v1/usage/", body, content_type="application/json")
    assert response.status_code == 400


def test_each_identity_form_finds_the_customer(api, plan):
    bia = make_customer(email="Bia@Example.test")
    customer_identifier_link(
        customer=bia, system=CustomerIdentifier.System.PRODUCT, external_id="usr_42"
    )
    forms = [{"email": "BIA@example.TEST"}, {"external_id": "usr_42"}, {"id": bia.pk}]
    events = [{**_event(i, bia), "customer": form} for i, form in enumerate(forms)]
    body = _post(api, events).json()
    assert body["accepted"] == 3, body
    assert UsageEvent.objects.filter(customer=bia).count() == 3


def test_an_unknown_customer_is_quarantined_with_the_reason(api, plan):
    event = {**_event(1, make_customer()), "customer": {"external_id": "usr_nobody"}}
    body = _post(api, [event]).json()
    assert body["results"] == [
        {
            "id": "evt-1",
            "status": "quarantined",
            "reason": "unknown customer (external_id 'usr_nobody')",
        }
    ]
    kept = QuarantinedUsageEvent.objects.get()
    assert kept.customer_ref == {"external_id": "usr_nobody"} and kept.customer is None
    assert not UsageEvent.objects.exists()


def test_an_unknown_event_is_quarantined(api, plan):
    bia = make_customer()
    body = _post(api, [_event(1, bia, event="dashboard_viewed")]).json()
    assert body["results"][0]["reason"] == "event 'dashboard_viewed' is not in the tracking plan"
    kept = QuarantinedUsageEvent.objects.get()
    assert (kept.event, kept.customer, kept.properties) == (
        "dashboard_viewed",
        bia,
        {"format": "csv"},
    )
    assert not CustomerUsage.objects.exists()
    assert not DomainEvent.objects.filter(type="usage.tracked").exists()


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"rows": "10"}, "property 'rows' must be integer, got string"),
        ({"rows": 1.5}, "property 'rows' must be integer, got number"),
        ({"rows": True}, "property 'rows' must be integer, got boolean"),
        ({"seconds": "fast"}, "property 'seconds' must be number, got string"),
        ({"scheduled": 1}, "property 'scheduled' must be boolean, got number"),
        ({"since": "yesterday"}, "property 'since' must be datetime, got string"),
        ({"since": "2026-01-01T00:00:00"}, "property 'since' must be datetime, got string"),
        ({"format": None}, "required property 'format' is missing"),
        ({"colour": "red"}, "properties not in the plan: 'colour'"),
        ({"nested": {"a": 1}}, "property 'nested' must be a scalar, not object"),
    ],
)
def test_property_errors_are_quarantined_with_the_reason(api, plan, properties, reason):
    bia = make_customer()
    body = _post(api, [_event(1, bia, **properties)]).json()
    assert body["results"][0]["status"] == "quarantined"
    assert reason in body["results"][0]["reason"]
    assert reason in QuarantinedUsageEvent.objects.get().reason
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2026-03-01T12:00:00", "timestamp must be ISO 8601 with a UTC offset"),
        ("2026-13-01T12:00:00Z", "timestamp must be ISO 8601 with a UTC offset"),
        (
            "\uff12\uff10\uff12\uff16-03-01T12:00:00Z",  # full-width digits
            "timestamp must be ISO 8601 with a UTC offset",
        ),
        (1767225600, "timestamp must be ISO 8601 with a UTC offset"),
        ("2999-01-01T00:00:00+00:00", "timestamp is in the future"),
        ("1999-12-31T23:59:59Z", "timestamp is before 2000"),
    ],
)
def test_bad_timestamps_are_quarantined(api, plan, timestamp, reason):
    bia = make_customer()
    body = _post(api, [{**_event(1, bia), "timestamp": timestamp}]).json()
    assert body["results"][0] == {"id": "evt-1", "status": "quarantined", "reason": reason}


def test_a_retried_quarantined_event_is_a_duplicate(api, plan):
    bia = make_customer()
    _post(api, [_event(1, bia, event="nope")])
    body = _post(api, [_event(1, bia, event="nope")]).json()
    assert body["results"][0]["status"] == "duplicate"
    assert QuarantinedUsageEvent.objects.count() == 1


def test_the_older_single_event_body_is_still_taken(api):
    bia = make_customer(email="bia@example.test")
    response = api.post(
        "/api/v1/usage/",
        {
            "customer_email": "bia@example.test",
            "name": "feature_used",
            "properties": {"feature": "reports"},
        },
        format="json",
    )
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert CustomerFeatureUsage.objects.get(customer_id=bia.pk).feature == "reports"


def test_the_scope_is_needed(plan):
    _, raw = api_key_create(name="storefront", scopes=["orders:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert _post(client, [_event(1, make_customer())]).status_code == 403
    assert not UsageEvent.objects.exists()


def test_the_schema_documents_the_batch(admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/usage/"]["post"]
    assert "202" in operation["responses"] and "400" in operation["responses"]
    batch = schema["components"]["schemas"]["UsageBatch"]
    assert batch["properties"]["events"]["maxItems"] == 1000
