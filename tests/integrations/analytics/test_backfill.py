"""``manage.py analytics_backfill``: past events, same ids as the live export, resumable."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from integrations.analytics.records import message_id
from integrations.events import record_event, recording_history

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _history(customer, count: int, *, start=DAY, type="order.paid"):
    """Events recorded as history: no Delivery rows, as when they predate the sinks."""
    with recording_history(), transaction.atomic():
        return [
            record_event(
                type=type,
                customer=customer,
                data={"number": f"SB-{i}"},
                occurred_at=start + timedelta(hours=i),
            )
            for i in range(count)
        ]


def _backfill(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    # Until a month later: the customer fixture's own customer.created (now) stays out.
    call_command("analytics_backfill", "--until", "2026-04-01", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_writes_the_warehouse_once_however_often_it_runs(sinks, customer):
    events = _history(customer, 30)  # 30 hours: two UTC days

    out, err = _backfill("--sink", "warehouse", "--since", "2026-03-01", "--batch-size", "7")
    assert "30 events sent to warehouse" in out
    assert "100% 30/30" in err  # the progress bar, drawn per batch
    assert err.count("\r") >= 5
    first = sorted(p.relative_to(sinks.warehouse).as_posix() for p in sinks.warehouse.rglob("*"))

    _backfill("--sink", "warehouse", "--since", "2026-03-01")
    again = sorted(p.relative_to(sinks.warehouse).as_posix() for p in sinks.warehouse.rglob("*"))

    assert again == first
    lines = sinks.warehouse_lines()
    assert sorted(line["id"] for line in lines) == sorted(message_id(e.pk) for e in events)
    days = {p.parent.name for p in sinks.warehouse.rglob("*.jsonl")}
    assert days == {"date=2026-03-01", "date=2026-03-02"}


def test_backfill_filters_by_time_and_type(sinks, customer):
    _history(customer, 10)
    _history(customer, 3, type="order.shipped")

    out, _ = _backfill(
        "--sink", "segment", "--since", "2026-03-01T14:00:00Z", "--until", "2026-03-01T18:00Z",
        "--type", "order.paid",
    )  # fmt: skip

    assert "4 events sent to segment" in out
    assert [m["properties"]["number"] for m in sinks.segment.messages] == [
        "SB-2", "SB-3", "SB-4", "SB-5"
    ]  # fmt: skip
    assert {m["event"] for m in sinks.segment.messages} == {"order.paid"}
    assert len(sinks.segment.requests) == 1  # one batch, not a request per event
    assert {m["userId"] for m in sinks.segment.messages} == {str(customer.pk)}


def test_backfill_to_posthog_is_marked_historical_and_reuses_the_ids(sinks, customer):
    events = _history(customer, 3)

    _backfill("--sink", "posthog", "--since", "2026-03-01")

    assert {body["historical_migration"] for body in sinks.posthog.bodies} == {True}
    assert len(sinks.posthog.requests) == 1  # one batch, not a request per event
    assert {e["distinct_id"] for e in sinks.posthog.events} == {str(customer.pk)}
    assert [e["uuid"] for e in sinks.posthog.events] == [message_id(e.pk) for e in events]


def test_a_failed_backfill_says_where_to_resume_and_resuming_sends_the_rest(sinks, customer):
    events = _history(customer, 6)
    # Segment goes down after the first batch (one request of 2 messages).
    original = sinks.segment.answer

    def answer(path, headers, raw, calls=[0]):  # noqa: B006 - a counter across calls
        calls[0] += 1
        return (503, {"error": "down"}) if calls[0] > 1 else original(path, headers, raw)

    sinks.segment.answer = answer
    with pytest.raises(CommandError, match=f"--after-id {events[1].pk}"):
        _backfill("--sink", "segment", "--since", "2026-03-01", "--batch-size", "2")

    sinks.segment.answer = original
    _backfill(
        "--sink", "segment", "--since", "2026-03-01", "--after-id", str(events[1].pk)
    )  # fmt: skip

    assert sorted(sinks.segment.delivered) == sorted(message_id(e.pk) for e in events)


def test_backfill_refuses_a_sink_that_is_off(settings):
    settings.ANALYTICS_WAREHOUSE_DIR = ""
    with pytest.raises(CommandError, match="warehouse sink is off"):
        _backfill("--sink", "warehouse", "--since", "2026-03-01")


def test_backfill_refuses_a_malformed_date(sinks):
    with pytest.raises(CommandError, match="--since must be an ISO 8601"):
        _backfill("--sink", "warehouse", "--since", "yesterday")
