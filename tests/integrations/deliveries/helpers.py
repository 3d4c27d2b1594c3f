"""Test subscribers and helpers for the delivery relay."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.events import get_event_type, record_event
from integrations.models import Delivery, DomainEvent, TaskHeartbeat

EVENT_TYPE = "note.added"
OTHER_EVENT_TYPE = "order.placed"


class Recorder:
    """A handler that counts its calls and writes one row per event, idempotently; it raises
    ``error`` on its first ``fail_times`` calls for each event.

    A row in a small table (TaskHeartbeat, unique on ``cluster``) stands in for the subscriber's
    own writes, so tests can see whether they were kept or rolled back."""

    def __init__(self, name: str, *, fail_times: int = 0, error: Exception | None = None) -> None:
        self.name = name
        self.fail_times = fail_times
        self.error = error or RuntimeError(f"{name} is down")
        self.calls: Counter[int] = Counter()
        self._lock = threading.Lock()

    def __call__(self, event: DomainEvent) -> None:
        with self._lock:
            self.calls[event.pk] += 1
            attempt = self.calls[event.pk]
        TaskHeartbeat.objects.get_or_create(
            cluster=self.row_key(event), defaults={"beat_at": timezone.now()}
        )
        if attempt <= self.fail_times:
            raise self.error

    def row_key(self, event: DomainEvent) -> str:
        return f"{self.name}:{event.pk}"

    def rows(self, event: DomainEvent) -> int:
        return TaskHeartbeat.objects.filter(cluster=self.row_key(event)).count()

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def emit(customer: Any, *, type: str = EVENT_TYPE, excerpt: str = "hello") -> DomainEvent:
    """Record an event in its own transaction, as a service would; a type other than a note
    carries its payload's example."""
    data = (
        {"excerpt": excerpt}
        if type == EVENT_TYPE
        else get_event_type(type).payload.example().as_data()
    )
    with transaction.atomic():
        return record_event(type=type, customer=customer, data=data)


def deliveries_of(event: DomainEvent) -> dict[str, Delivery]:
    return {d.subscriber: d for d in Delivery.objects.filter(event=event)}


def make_overdue(*deliveries: Delivery, by: timedelta = timedelta(minutes=5)) -> None:
    """Move the time a delivery is due into the past, as if the clock had moved on."""
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        next_attempt_at=timezone.now() - by
    )
