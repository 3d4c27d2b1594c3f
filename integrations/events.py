"""Domain events: the registry of types, ``record_event`` and the after-commit announcement.

Every service that changes state calls ``record_event`` inside its transaction, so a rolled-back
service leaves no event. The same transaction writes one Delivery row per subscriber of the type
(the outbox). After commit the ``domain_event_committed`` signal announces the event; the signal
decides nothing, ``integrations.deliveries`` hands each Delivery to the task cluster.
"""

from __future__ import annotations

import contextvars
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from integrations.deliveries.registry import subscribers_for
from integrations.exceptions import UnknownEventType
from integrations.models import Delivery, DomainEvent
from integrations.money import format_money

log = structlog.get_logger(__name__)

_history_only: contextvars.ContextVar[bool] = contextvars.ContextVar("history_only", default=False)


@contextmanager
def recording_history() -> Iterator[None]:
    """Record events without Delivery rows: for seeding or importing history whose reactions
    (payments taken, parcels shipped, customers told) already happened elsewhere."""
    token = _history_only.set(True)
    try:
        yield
    finally:
        _history_only.reset(token)


domain_event_committed = Signal()
"""Sent with ``event=<DomainEvent>`` once the transaction that recorded it has committed, and
``delivery_ids``: the pks of its Delivery rows (``None`` when the database did not return them)."""


@dataclass(frozen=True)
class EventType:
    name: str
    label: str
    summary: str = ""
    """Format string over the event's data; ``{money}`` is its amount and currency."""

    @property
    def kind(self) -> str:
        return self.name.split(".", 1)[0]


_REGISTRY: dict[str, EventType] = {}


def register_event_types(*types: EventType) -> None:
    for event_type in types:
        existing = _REGISTRY.get(event_type.name)
        if existing is not None and existing != event_type:
            raise ValueError(f"Event type {event_type.name!r} is registered twice, differently.")
        _REGISTRY[event_type.name] = event_type


def get_event_type(name: str) -> EventType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEventType(f"Event type {name!r} is not registered.") from None


def registered_event_types() -> Mapping[str, EventType]:
    return dict(_REGISTRY)


def event_kinds() -> list[str]:
    return sorted({t.kind for t in _REGISTRY.values()})


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def render_summary(event: DomainEvent) -> str:
    """One line for the timeline; needs no query."""
    event_type = _REGISTRY.get(event.type)
    template = event_type.summary if event_type else ""
    values = _Blank(event.data or {})
    if isinstance(values.get("amount"), int) and values.get("currency"):
        values["money"] = format_money(values["amount"], values["currency"])
    if not template:
        return event_type.label if event_type else event.type
    try:
        return string.Formatter().vformat(template, (), values)
    except (ValueError, IndexError, AttributeError):
        return event_type.label if event_type else event.type


def record_event(
    *,
    type: str,
    customer: models.Model | None = None,
    subject: models.Model | None = None,
    actor: models.Model | None = None,
    actor_label: str = "",
    data: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> DomainEvent:
    """Write a DomainEvent and its Delivery rows in the caller's transaction; announce it after
    commit.

    Must run inside ``transaction.atomic``: an event outside the transaction of the change it
    describes could survive that change's rollback. Costs one INSERT, plus one bulk INSERT of
    deliveries when the type has subscribers. Raises UnknownEventType for unregistered types.
    """
    event_type = get_event_type(type)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_event must be called inside the service's transaction.atomic.")
    event = DomainEvent(
        type=event_type.name,
        kind=event_type.kind,
        customer_id=customer.pk if customer is not None else None,
        actor_id=actor.pk if actor is not None else None,
        actor_label=actor_label if actor is None else "",
        data=dict(data or {}),
    )
    if occurred_at is not None:
        event.occurred_at = occurred_at
    if subject is not None:
        event.subject_type = ContentType.objects.get_for_model(subject)
        event.subject_id = str(subject.pk)
        event.subject_label = str(subject)[:200]
    event.save()
    delivery_ids: tuple[int, ...] | None = ()
    subscribers = [] if _history_only.get() else list(subscribers_for(event_type.name))
    if subscribers:
        now = timezone.now()
        deliveries = Delivery.objects.bulk_create(
            Delivery(
                event=event,
                subscriber=subscriber.name,
                status=Delivery.Status.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
            for subscriber in subscribers
        )
        pks = [delivery.pk for delivery in deliveries]
        delivery_ids = None if None in pks else tuple(pks)
    transaction.on_commit(partial(_announce, event, delivery_ids))
    return event


def _announce(event: DomainEvent, delivery_ids: Sequence[int] | None = ()) -> None:
    for receiver, result in domain_event_committed.send_robust(
        sender=DomainEvent, event=event, delivery_ids=delivery_ids
    ):
        if isinstance(result, Exception):
            log.error(
                "domain_event.subscriber_failed",
                event_id=event.pk,
                event_type=event.type,
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error=repr(result),
            )
