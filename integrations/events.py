"""Domain events: the registry of types, ``record_event`` and the after-commit announcement.

Every service that changes state calls ``record_event`` inside its transaction, so a rolled-back
service leaves no event. After commit the ``domain_event_committed`` signal announces it; the
signal decides nothing, subscribers (later: Delivery rows) do the work.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.dispatch import Signal

from integrations.exceptions import UnknownEventType
from integrations.models import DomainEvent
from integrations.money import format_money

log = structlog.get_logger(__name__)

domain_event_committed = Signal()
"""Sent with ``event=<DomainEvent>`` once the transaction that recorded it has committed."""


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
    """Write a DomainEvent in the caller's transaction and announce it after commit.

    Must run inside ``transaction.atomic``: an event outside the transaction of the change it
    describes could survive that change's rollback. Raises UnknownEventType for unregistered types.
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
    transaction.on_commit(partial(_announce, event))
    return event


def _announce(event: DomainEvent) -> None:
    for receiver, result in domain_event_committed.send_robust(sender=DomainEvent, event=event):
        if isinstance(result, Exception):
            log.error(
                "domain_event.subscriber_failed",
                event_id=event.pk,
                event_type=event.type,
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error=repr(result),
            )
