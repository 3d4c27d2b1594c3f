"""Reads over customers: the unified timeline."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from accounts.customers.exceptions import InvalidCursor
from accounts.models import Customer
from integrations.events import get_event_type, render_summary
from integrations.exceptions import UnknownEventType
from integrations.models import DomainEvent

TIMELINE_PAGE_SIZE = 50
TIMELINE_MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    type: str
    kind: str
    label: str
    summary: str
    occurred_at: datetime
    actor: str
    subject_label: str
    subject_url: str | None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


def encode_cursor(occurred_at: datetime, event_id: int) -> str:
    raw = f"{occurred_at.isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, event_id = raw.rsplit("|", 1)
        occurred_at = datetime.fromisoformat(stamp)
        if occurred_at.tzinfo is None:
            raise ValueError("naive time")
        return occurred_at, int(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"Bad timeline cursor {cursor!r}.") from exc


def _subject_url(event: DomainEvent) -> str | None:
    if event.subject_type is None or not event.subject_id:
        return None
    content_type = event.subject_type
    try:
        return reverse(
            f"admin:{content_type.app_label}_{content_type.model}_change", args=[event.subject_id]
        )
    except NoReverseMatch:
        return None


def timeline_entry(event: DomainEvent) -> TimelineEntry:
    """One DomainEvent as a timeline line (label, summary, actor, link to its object)."""
    return _entry(event)


def _entry(event: DomainEvent) -> TimelineEntry:
    try:
        label = get_event_type(event.type).label
    except UnknownEventType:
        label = event.type
    if event.actor is not None:
        actor = event.actor.get_full_name() or event.actor.get_username()
    else:
        actor = event.actor_label
    return TimelineEntry(
        id=event.pk,
        type=event.type,
        kind=event.kind,
        label=label,
        summary=render_summary(event),
        occurred_at=event.occurred_at,
        actor=actor,
        subject_label=event.subject_label,
        subject_url=_subject_url(event),
    )


def customer_timeline(
    *,
    customer: Customer,
    before: str | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = TIMELINE_PAGE_SIZE,
) -> TimelinePage:
    """The customer's DomainEvents, newest first, keyset-paginated on (occurred_at, id).

    ``before`` is the ``next_cursor`` of the previous page. Runs one query whatever the page size
    or the customer's history (actor and subject type are joined, not fetched per row)."""
    limit = max(1, min(limit, TIMELINE_MAX_PAGE_SIZE))
    events = (
        DomainEvent.objects.filter(customer=customer)
        .select_related("actor", "subject_type")
        .order_by("-occurred_at", "-id")
    )
    if kinds:
        events = events.filter(kind__in=list(kinds))
    if before:
        occurred_at, event_id = decode_cursor(before)
        events = events.filter(
            Q(occurred_at__lt=occurred_at) | Q(occurred_at=occurred_at, id__lt=event_id)
        )
    rows = list(events[: limit + 1])
    page, extra = rows[:limit], rows[limit:]
    next_cursor = encode_cursor(page[-1].occurred_at, page[-1].pk) if extra else None
    return TimelinePage(entries=[_entry(e) for e in page], next_cursor=next_cursor)
