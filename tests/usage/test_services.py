"""Usage aggregates kept incrementally (late and out-of-order events included), the quarantine's
release after a plan update, and the aggregates after a customer merge (issue 14 item 1)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.customers.services import customer_merge
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
from usage.selectors import customer_usage_summary
from usage.services import usage_events_ingest, usage_quarantine_release

pytestmark = pytest.mark.django_db
NOW = datetime.now(tz=UTC).replace(second=0, microsecond=0)
TODAY = NOW.date()


def _at(days_ago: int) -> datetime:
    """This minute ``days_ago`` UTC days ago (never in the future)."""
    return NOW - timedelta(days=days_ago)


def _events(customer, specs, *, prefix="e"):
    """``specs``: (days ago, feature) pairs, as feature_used events."""
    return [
        {
            "id": f"{prefix}{i}",
            "customer": {"id": customer.pk},
            "event": "feature_used",
            "timestamp": _at(days_ago).isoformat(),
            "properties": {"feature": feature},
        }
        for i, (days_ago, feature) in enumerate(specs)
    ]


def test_aggregates_are_the_same_in_any_order_and_batching():
    """Ten events over 40 days, sent as one batch in date order, or in a shuffled order split
    into single-event batches: the same first/last seen, active days and feature counts."""
    specs = [
        (40, "reports"),
        (29, "reports"),
        (10, "export"),
        (6, "reports"),
        (6, "export"),
        (3, "reports"),
        (1, "search"),
        (0, "reports"),
        (0, "reports"),
        (35, "search"),
    ]
    ordered, shuffled = make_customer(), make_customer()
    usage_events_ingest(source="t", events=_events(ordered, sorted(specs, reverse=True)))
    late_first = _events(shuffled, specs, prefix="s")
    random.Random(7).shuffle(late_first)
    for event in late_first:
        usage_events_ingest(source="t", events=[event])

    for customer in (ordered, shuffled):
        summary = customer_usage_summary(customer_id=customer.pk, today=TODAY)
        assert summary.first_seen_at == _at(40)
        assert summary.last_seen_at == _at(0)
        assert summary.events == 10
        # Distinct UTC days, today included: 7 days = days 0..6 -> {0, 1, 3, 6}.
        assert summary.active_days_7 == 4
        # 30 days = days 0..29 -> {0, 1, 3, 6, 10, 29}.
        assert summary.active_days_30 == 6
        uses = {f.feature: (f.uses, f.last_used_at) for f in summary.features}
        assert uses == {
            "reports": (6, _at(0)),
            "export": (2, _at(6)),
            "search": (2, _at(1)),
        }


def test_a_late_event_moves_first_seen_back_and_keeps_last_seen():
    bia = make_customer()
    usage_events_ingest(source="t", events=_events(bia, [(2, "reports")]))
    usage_events_ingest(source="t", events=_events(bia, [(20, "export")], prefix="late"))
    usage = CustomerUsage.objects.get(customer_id=bia.pk)
    assert (usage.first_seen_at, usage.last_seen_at, usage.events) == (_at(20), _at(2), 2)
    assert sorted(
        CustomerUsageDay.objects.filter(customer_id=bia.pk).values_list("day", "events")
    ) == [
        (TODAY - timedelta(days=20), 1),
        (TODAY - timedelta(days=2), 1),
    ]


def test_the_active_day_is_the_utc_day():
    bia = make_customer()
    late_evening_in_sao_paulo = "2026-03-01T22:30:00-03:00"  # 01:30 UTC on 2 March
    usage_events_ingest(
        source="t",
        events=[
            {
                "id": "x",
                "customer": {"id": bia.pk},
                "event": "signed_in",
                "timestamp": late_evening_in_sao_paulo,
            }
        ],
    )
    assert CustomerUsageDay.objects.get(customer_id=bia.pk).day == date(2026, 3, 2)


def test_the_feature_is_the_plan_property_or_the_event_name():
    bia = make_customer()
    usage_events_ingest(
        source="t",
        events=[
            *_events(bia, [(0, "reports")]),
            {
                "id": "s",
                "customer": {"id": bia.pk},
                "event": "signed_in",
                "timestamp": _at(0).isoformat(),
            },
            {
                "id": "f",
                "customer": {"id": bia.pk},
                "event": "feature_used",
                "timestamp": _at(0).isoformat(),
            },
        ],
    )
    assert set(CustomerFeatureUsage.objects.values_list("feature", "uses")) == {
        ("reports", 1),
        ("signed_in", 1),
        ("feature_used", 1),  # no feature property sent: the event name
    }


def test_the_customer_page_summary_costs_three_queries(django_assert_num_queries):
    bia = make_customer()
    usage_events_ingest(source="t", events=_events(bia, [(d, f"f{d}") for d in range(40)]))
    with django_assert_num_queries(3):
        summary = customer_usage_summary(customer_id=bia.pk, today=TODAY)
    assert len(summary.features) == 10


def test_a_batch_costs_the_same_statements_whatever_its_size(django_assert_max_num_queries):
    customers = [make_customer() for _ in range(20)]
    events = [
        {
            "id": f"n{i}",
            "customer": {"id": customers[i % 20].pk},
            "event": "feature_used",
            "timestamp": _at(i % 30).isoformat(),
            "properties": {"feature": f"f{i % 7}"},
        }
        for i in range(500)
    ]
    # plan (2) + customers (1) + seen (2) + insert (2 chunks) + read back (1) + 3 upserts
    # (2 + 2 + 2 chunks) + timeline insert + savepoints: bounded, not per event.
    with django_assert_max_num_queries(25):
        results = usage_events_ingest(source="t", events=events)
    assert {r.status for r in results} == {"accepted"}
    assert sum(CustomerUsage.objects.values_list("events", flat=True)) == 500


def test_release_after_the_plan_is_updated():
    bia = make_customer()
    sent = [
        {
            "id": "a",
            "customer": {"id": bia.pk},
            "event": "dashboard_viewed",
            "timestamp": _at(3).isoformat(),
            "properties": {"widgets": 4},
        },
        {
            "id": "b",
            "customer": {"id": bia.pk},
            "event": "dashboard_viewed",
            "timestamp": _at(1).isoformat(),
            "properties": {"widgets": "many"},
        },
    ]
    results = usage_events_ingest(source="t", events=sent)
    assert [r.status for r in results] == ["quarantined", "quarantined"]
    assert not CustomerUsage.objects.exists()

    plan = TrackedEvent.objects.create(name="dashboard_viewed")
    TrackedProperty.objects.create(event=plan, name="widgets", type=PropertyType.INTEGER)
    result = usage_quarantine_release(events=QuarantinedUsageEvent.objects.all())

    assert (result.released, result.still_quarantined) == (1, 1)
    released = QuarantinedUsageEvent.objects.get(client_event_id="a")
    assert released.status == "released" and released.released_at is not None
    still = QuarantinedUsageEvent.objects.get(client_event_id="b")
    assert still.status == "quarantined"
    assert still.reason == "property 'widgets' must be integer, got string"
    stored = UsageEvent.objects.get()
    assert (stored.client_event_id, stored.occurred_at, stored.feature) == (
        "a",
        _at(3),
        "dashboard_viewed",
    )
    usage = CustomerUsage.objects.get(customer_id=bia.pk)
    assert (usage.events, usage.first_seen_at) == (1, _at(3))
    assert DomainEvent.objects.filter(type="usage.tracked", customer=bia).count() == 1

    # Releasing again changes nothing: the released one is skipped, the other still fails.
    again = usage_quarantine_release(events=QuarantinedUsageEvent.objects.all())
    assert (again.released, again.still_quarantined) == (0, 1)
    assert CustomerUsage.objects.get(customer_id=bia.pk).events == 1


def test_an_event_for_a_customer_who_arrives_later_is_released_to_them():
    sent = {
        "id": "early",
        "customer": {"email": "new@example.test"},
        "event": "signed_in",
        "timestamp": _at(0).isoformat(),
    }
    assert usage_events_ingest(source="t", events=[sent])[0].status == "quarantined"
    new = make_customer(email="new@example.test")
    assert usage_quarantine_release(events=QuarantinedUsageEvent.objects.all()).released == 1
    assert UsageEvent.objects.get().customer == new


def test_a_merge_folds_the_usage_aggregates(django_capture_on_commit_callbacks):
    keep, duplicate = make_customer(), make_customer()
    usage_events_ingest(source="t", events=_events(keep, [(5, "reports"), (1, "export")]))
    usage_events_ingest(
        source="t", events=_events(duplicate, [(9, "reports"), (1, "search")], prefix="d")
    )
    with django_capture_on_commit_callbacks(execute=True):
        customer_merge(keep=keep, duplicates=[duplicate])
    usage = CustomerUsage.objects.get(customer_id=keep.pk)
    assert (usage.events, usage.first_seen_at, usage.last_seen_at) == (4, _at(9), _at(1))
    assert dict(
        CustomerFeatureUsage.objects.filter(customer_id=keep.pk).values_list("feature", "uses")
    ) == {"reports": 2, "export": 1, "search": 1}
    assert (
        CustomerUsageDay.objects.get(customer_id=keep.pk, day=TODAY - timedelta(days=1)).events == 2
    )
    assert not CustomerUsage.objects.filter(customer_id=duplicate.pk).exists()
    assert not CustomerUsageDay.objects.filter(customer_id=duplicate.pk).exists()


@pytest.mark.parametrize(
    "event",
    [
        {"customer": "bia", "properties": {"a": 1}},
        {"customer": None, "properties": ["a"]},
        {"properties": "a"},
    ],
)
def test_a_quarantined_event_is_kept_as_sent_and_released_with_the_same_reason(event):
    sent = {"id": "q", "event": "signed_in", "timestamp": _at(0).isoformat(), **event}
    reason = usage_events_ingest(source="t", events=[sent])[0].reason
    assert reason
    usage_quarantine_release(events=QuarantinedUsageEvent.objects.all())
    assert QuarantinedUsageEvent.objects.get().reason == reason


def test_an_event_without_properties_is_released_once_the_plan_knows_it():
    bia = make_customer()
    sent = {"id": "p", "customer": {"id": bia.pk}, "event": "new", "timestamp": _at(0).isoformat()}
    assert usage_events_ingest(source="t", events=[sent])[0].status == "quarantined"
    TrackedEvent.objects.create(name="new")
    assert usage_quarantine_release(events=QuarantinedUsageEvent.objects.all()).released == 1


def test_an_empty_plan_gets_the_older_endpoints_events_and_a_kept_plan_is_left_alone():
    from usage.plan import seed_empty_plan

    assert set(TrackedEvent.objects.values_list("name", flat=True)) == {"feature_used", "signed_in"}
    TrackedEvent.objects.filter(name="signed_in").delete()
    assert not seed_empty_plan()
    assert set(TrackedEvent.objects.values_list("name", flat=True)) == {"feature_used"}
    TrackedEvent.objects.all().delete()
    assert seed_empty_plan()
    feature_used = TrackedEvent.objects.get(name="feature_used")
    assert feature_used.feature_property == "feature" and feature_used.additional_properties
