"""Exporting domain events to the analytics sinks: one event (the subscribers) or a range of
past events (the backfill command). Both send the same record with the same id, so running a
backfill over events already exported, or twice, adds nothing at any sink."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from django.db.models import Q, QuerySet

from integrations.analytics.records import AnalyticsRecord, analytics_record
from integrations.analytics.sinks import get_sink, sink_wants
from integrations.models import DomainEvent


def analytics_event_export(*, sink: str, event: DomainEvent) -> bool:
    """Send ``event`` to ``sink``; True if something was sent. Idempotent (the record id is
    stable). Sends nothing, and answers False, for a sink that is off, an excluded type, or an
    event without a customer on a per-person sink. Raises ProviderUnavailable or
    ProviderRejected as the sink does (the Delivery relay retries or gives up)."""
    target = get_sink(sink)
    if not sink_wants(sink)(event.type):
        return False
    if target.needs_customer and event.customer_id is None:
        return False
    target.send([analytics_record(event)])
    return True


def backfill_events(
    *,
    since: datetime,
    until: datetime | None = None,
    types: Sequence[str] = (),
    after_id: int = 0,
) -> QuerySet[DomainEvent]:
    """The events a backfill covers, oldest id first: occurred in [since, until), of these types
    (exact names, or ``kind.*``), with an id above ``after_id`` (to resume)."""
    events = DomainEvent.objects.filter(occurred_at__gte=since, pk__gt=after_id)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    if types:
        condition = Q()
        for name in types:
            if name.endswith(".*"):
                condition |= Q(kind=name.removesuffix(".*"))
            else:
                condition |= Q(type=name)
        events = events.filter(condition)
    return events.order_by("pk")


def analytics_backfill(
    *,
    sink: str,
    events: Iterable[DomainEvent],
    batch_size: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Send ``events`` (in id order) to ``sink`` in batches; return how many were sent.

    ``progress(done, last_id)`` is called after each batch, ``last_id`` being the id to resume
    after if a later batch fails. Skips what the live export would skip. Raises what the sink
    raises; everything before the failing batch has been sent, and sending it again is harmless.
    """
    target = get_sink(sink)
    wants = sink_wants(sink)
    sent = 0
    done = 0
    pending: list[AnalyticsRecord] = []
    last_id = 0
    for event in events:
        done += 1
        last_id = event.pk
        if wants(event.type) and not (target.needs_customer and event.customer_id is None):
            pending.append(analytics_record(event))
        if done % batch_size == 0:
            target.send(pending, backfill=True)
            sent += len(pending)
            pending = []
            if progress:
                progress(done, last_id)
    if pending:
        target.send(pending, backfill=True)
        sent += len(pending)
    if progress and done % batch_size:
        progress(done, last_id)
    return sent
