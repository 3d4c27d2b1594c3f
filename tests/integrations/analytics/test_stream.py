"""The analytics stream end to end: a committed domain event reaches Segment, PostHog and the
warehouse through one Delivery per sink, with stable ids, and a sink that is down retries."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from integrations.analytics.records import SCHEMA_VERSION, message_id
from integrations.analytics.services import analytics_event_export
from integrations.deliveries.relay import delivery_run
from integrations.models import CircuitBreaker, Delivery

pytestmark = pytest.mark.django_db

ORDER = {"amount": 4990, "currency": "BRL", "number": "SB-1042", "items": 2}


def test_a_committed_event_reaches_every_sink_once(sinks, commit_event, customer):
    event = commit_event("order.placed", ORDER, customer=customer)

    deliveries = {
        d.subscriber: d
        for d in Delivery.objects.filter(event=event, subscriber__startswith="analytics.")
    }
    assert set(deliveries) == {"analytics.segment", "analytics.posthog", "analytics.warehouse"}
    assert {d.status for d in deliveries.values()} == {Delivery.Status.SUCCEEDED}

    expected_id = message_id(event.pk)
    (track,) = sinks.segment.messages
    assert track["type"] == "track"
    assert track["event"] == "order.placed"
    assert track["userId"] == str(customer.pk)
    assert track["messageId"] == expected_id
    assert track.get("anonymousId") is None
    assert datetime.fromisoformat(track["timestamp"]) == event.occurred_at.replace(
        microsecond=event.occurred_at.microsecond // 1000 * 1000
    )
    assert track["properties"]["amount"] == 4990
    assert track["properties"]["currency"] == "BRL"
    assert track["properties"]["switchboard_event_id"] == event.pk

    (capture,) = sinks.posthog.events
    assert capture["event"] == "order.placed"
    assert capture["distinct_id"] == str(customer.pk)
    assert capture["uuid"] == expected_id
    assert datetime.fromisoformat(capture["timestamp"]) == event.occurred_at
    assert capture["properties"]["number"] == "SB-1042"

    (line,) = sinks.warehouse_lines()
    day = event.occurred_at.astimezone(UTC).date().isoformat()
    (path,) = sinks.warehouse.rglob("*.jsonl")
    assert path.relative_to(sinks.warehouse).as_posix() == (
        f"events/v={SCHEMA_VERSION}/date={day}/{expected_id}.jsonl"
    )
    assert line["schema_version"] == SCHEMA_VERSION
    assert line["id"] == expected_id
    assert line["event_id"] == event.pk
    assert line["type"] == line["name"] == "order.placed"
    assert line["customer_id"] == customer.pk
    assert line["properties"] == ORDER


def test_a_redelivery_is_kept_once_at_every_sink(sinks, commit_event, customer):
    event = commit_event("order.placed", ORDER, customer=customer)
    for sink in ("segment", "posthog", "warehouse"):
        assert analytics_event_export(sink=sink, event=event)

    # Sent twice with the same id: Segment and PostHog keep one by messageId / uuid.
    assert [m["messageId"] for m in sinks.segment.messages] == [message_id(event.pk)] * 2
    assert len(sinks.segment.delivered) == 1
    assert [e["uuid"] for e in sinks.posthog.events] == [message_id(event.pk)] * 2
    assert len(sinks.posthog.delivered) == 1
    # The warehouse file is rewritten whole, never appended to: one line.
    assert len(sinks.warehouse_lines()) == 1


@pytest.mark.parametrize("sink", ["segment", "posthog"])
def test_a_sink_down_queues_the_event_and_it_arrives_once_after_recovery(
    sinks, commit_event, customer, sink
):
    fake = getattr(sinks, sink)
    fake.fail(500)
    event = commit_event("order.placed", ORDER, customer=customer)

    delivery = Delivery.objects.get(event=event, subscriber=f"analytics.{sink}")
    assert delivery.status == Delivery.Status.FAILED
    assert "500" in delivery.last_error
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at > timezone.now()
    assert len(fake.delivered) == 0
    # The other sinks were not held back.
    assert Delivery.objects.get(event=event, subscriber="analytics.warehouse").status == (
        Delivery.Status.SUCCEEDED
    )

    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery = delivery_run(delivery_id=delivery.pk)

    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert list(fake.delivered) == [message_id(event.pk)]
    assert len(fake.requests) == 2


def test_a_wrong_segment_write_key_is_refused_and_the_delivery_is_dead(
    sinks, settings, commit_event, customer
):
    settings.ANALYTICS_SEGMENT_WRITE_KEY = "not-the-write-key"
    event = commit_event("order.placed", ORDER, customer=customer)

    delivery = Delivery.objects.get(event=event, subscriber="analytics.segment")
    assert delivery.status == Delivery.Status.DEAD
    assert "401" in delivery.last_error
    assert "not-the-write-key" not in delivery.last_error
    assert sinks.segment.messages == []
    # A refusal proves Segment is up: its breaker counts no failure.
    assert not CircuitBreaker.objects.filter(provider="segment", state="open").exists()


def test_a_wrong_posthog_key_is_refused(sinks, settings, commit_event, customer):
    settings.ANALYTICS_POSTHOG_API_KEY = "phc_wrong"
    event = commit_event("order.placed", ORDER, customer=customer)

    delivery = Delivery.objects.get(event=event, subscriber="analytics.posthog")
    assert delivery.status == Delivery.Status.DEAD
    assert "401" in delivery.last_error
    assert sinks.posthog.events == []


def test_an_open_breaker_sends_nothing_and_retries_later(sinks, commit_event, customer):
    CircuitBreaker.objects.create(
        provider="posthog", state=CircuitBreaker.State.OPEN, opened_at=timezone.now()
    )
    event = commit_event("order.placed", ORDER, customer=customer)

    delivery = Delivery.objects.get(event=event, subscriber="analytics.posthog")
    assert delivery.status == Delivery.Status.FAILED
    assert "breaker" in delivery.last_error
    assert sinks.posthog.requests == []


def test_sinks_that_are_off_get_no_delivery_rows(settings, commit_event, customer):
    settings.ANALYTICS_SEGMENT_WRITE_KEY = ""
    settings.ANALYTICS_POSTHOG_API_KEY = ""
    settings.ANALYTICS_WAREHOUSE_DIR = ""
    event = commit_event("order.placed", ORDER, customer=customer)

    assert not Delivery.objects.filter(event=event, subscriber__startswith="analytics.").exists()


def test_excluded_types_are_not_exported(sinks, settings, commit_event, customer):
    settings.ANALYTICS_EXCLUDE_TYPES = ["order.*"]
    excluded = commit_event("order.placed", ORDER, customer=customer)
    kept = commit_event(
        "payment.succeeded",
        {
            "amount": 4990,
            "currency": "BRL",
            "order": "SB-1042",
            "provider": "sandbox",
            "method": "pix",
        },
        customer=customer,
    )

    assert not Delivery.objects.filter(event=excluded, subscriber__startswith="analytics.").exists()
    assert Delivery.objects.filter(event=kept, subscriber__startswith="analytics.").count() == 3
    assert [m["event"] for m in sinks.segment.messages] == ["payment.succeeded"]


def test_an_event_without_a_customer_goes_to_the_warehouse_only(sinks, commit_event):
    event = commit_event(
        "webhook_endpoint.disabled",
        {"endpoint_id": 3, "url": "https://erp.example.test/hooks?token=abc", "reason": "5 days"},
    )

    assert Delivery.objects.get(event=event, subscriber="analytics.segment").status == (
        Delivery.Status.SUCCEEDED
    )
    assert sinks.segment.requests == []
    assert sinks.posthog.requests == []
    (line,) = sinks.warehouse_lines()
    assert line["customer_id"] is None
    assert line["properties"] == {"endpoint_id": 3}
    assert sorted(line["pii"]["dropped"]) == ["reason", "url"]


def test_a_usage_event_is_exported_under_the_products_own_name(sinks, commit_event, customer):
    event = commit_event(
        "usage.tracked",
        {
            "event": "report_exported",
            "feature": "reports",
            "client_event_id": "evt_01J9",
            "properties": {"format": "csv", "rows": "1200", "email": "ana@example.test"},
        },
        customer=customer,
    )

    (track,) = sinks.segment.messages
    assert track["event"] == "report_exported"
    assert track["properties"]["format"] == "csv"
    assert track["properties"]["feature"] == "reports"
    assert track["properties"]["switchboard_event_type"] == "usage.tracked"
    assert track["properties"]["email"] != "ana@example.test"
    assert len(track["properties"]["email"]) == 64
    (line,) = sinks.warehouse_lines()
    assert line["source"] == "product"
    assert line["name"] == "report_exported"
    assert line["pii"]["hashed"] == ["email"]
    assert json.dumps(line).count("ana@example.test") == 0
    assert event.occurred_at - timedelta(seconds=1) < datetime.fromisoformat(line["occurred_at"])


def test_no_key_reaches_the_logs(sinks, commit_event, customer, caplog):
    caplog.set_level(logging.DEBUG)
    sinks.posthog.fail(500)
    commit_event("order.placed", ORDER, customer=customer)

    assert len(sinks.segment.messages) == 1
    assert "delivery.failed" in caplog.text
    assert sinks.segment.write_key not in caplog.text
    assert sinks.posthog.api_key not in caplog.text
