"""Usage events accepted by POST /api/v1/usage/ reach the sinks under the product's own event
names (the usage app registers them as an analytics source); a retried batch sends nothing
twice and quarantined events send nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from integrations.models import Delivery, DomainEvent
from tests.factories import make_customer
from usage.models import PropertyType, TrackedEvent, TrackedProperty

pytestmark = pytest.mark.django_db
NOW = datetime.now(tz=UTC).replace(microsecond=0)


@pytest.fixture
def api():
    cache.clear()
    _, raw = api_key_create(name="product", scopes=["usage:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _event(i, customer, event="report_exported", **properties):
    return {
        "id": f"evt-{i}",
        "customer": {"email": customer.email},
        "event": event,
        "timestamp": NOW.isoformat(),
        "properties": {"format": "csv", **properties},
    }


def test_accepted_usage_events_reach_the_sinks_under_their_own_names(
    api, sinks, django_capture_on_commit_callbacks
):
    report = TrackedEvent.objects.create(name="report_exported", feature_property="")
    TrackedProperty.objects.create(event=report, name="format", type=PropertyType.STRING)
    TrackedProperty.objects.create(event=report, name="invitee_email", type=PropertyType.STRING)
    bia = make_customer(email="bia@example.test")
    batch = [_event(i, bia, invitee_email=f"guest{i}@example.test") for i in range(3)]
    batch.append(_event(9, bia, event="not_in_the_plan"))

    with django_capture_on_commit_callbacks(execute=True):
        body = api.post("/api/v1/usage/", {"events": batch}, format="json").json()
    assert (body["accepted"], body["quarantined"]) == (3, 1)
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("/api/v1/usage/", {"events": batch}, format="json").json()
    assert again["accepted"] == 0

    tracked = DomainEvent.objects.filter(type="usage.tracked")
    assert tracked.count() == 3
    usage_messages = [m for m in sinks.segment.messages if m["event"] != "customer.created"]
    assert [m["event"] for m in usage_messages] == ["report_exported"] * 3
    assert {m["userId"] for m in usage_messages} == {str(bia.pk)}
    assert sorted(m["properties"]["client_event_id"] for m in usage_messages) == [
        "evt-0", "evt-1", "evt-2"
    ]  # fmt: skip
    assert all(len(m["properties"]["invitee_email"]) == 64 for m in usage_messages)
    assert "guest0@example.test" not in sinks.everything_sent()
    assert len([e for e in sinks.posthog.events if e["event"] == "report_exported"]) == 3
    assert len([line for line in sinks.warehouse_lines() if line["source"] == "product"]) == 3
    assert (
        Delivery.objects.filter(
            event__in=tracked, subscriber__startswith="analytics.", status=Delivery.Status.SUCCEEDED
        ).count()
        == 9
    )


def test_an_event_type_has_one_analytics_source():
    from django.core.exceptions import ImproperlyConfigured

    from integrations.analytics.records import AnalyticsSource, register_analytics_source

    with pytest.raises(ImproperlyConfigured, match=r"usage\.tracked"):
        register_analytics_source(
            AnalyticsSource(
                name="other", event_types=frozenset({"usage.tracked"}), describe=lambda e: ("x", {})
            )
        )
