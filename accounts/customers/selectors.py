"""Reads over customers: the unified timeline."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

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
    """When it happened as its source says (the provider's time for a provider's fact)."""
    recorded_at: datetime
    """When we wrote it: the order of the timeline."""
    actor: str
    subject_label: str
    subject_url: str | None
    subject_permission: str
    """The permission that opens ``subject_url`` (``payments.view_dispute``): links a user may
    not open are dropped by ``entries_visible_to``."""
    subject_model: str = ""
    """The subject's ``app_label.model`` (``notifications.notification``), empty for none."""
    subject_id: str = ""

    @property
    def provider_time_differs(self) -> bool:
        """Whether the source's own time is worth showing beside ours (a second or more apart)."""
        return abs((self.recorded_at - self.occurred_at).total_seconds()) >= 1


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: str | None


# Cursors name the column they page on: one made when the timeline was ordered by the provider's
# time (no prefix) is refused rather than read as a recorded time.
_CURSOR_PREFIX = "r|"


def encode_cursor(recorded_at: datetime, event_id: int) -> str:
    raw = f"{_CURSOR_PREFIX}{recorded_at.isoformat()}|{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (recorded_at, id) of the last entry of the previous page; InvalidCursor otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise InvalidCursor(f"Bad timeline cursor {cursor!r}.")
        stamp, event_id = raw.removeprefix(_CURSOR_PREFIX).rsplit("|", 1)
        recorded_at = datetime.fromisoformat(stamp)
        if recorded_at.tzinfo is None or not event_id.isascii() or not event_id.isdigit():
            raise InvalidCursor(f"Bad timeline cursor {cursor!r}.")
        return recorded_at, int(event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(f"Bad timeline cursor {cursor!r}.") from exc


def _subject_url(event: DomainEvent) -> tuple[str | None, str]:
    if event.subject_type is None or not event.subject_id:
        return None, ""
    content_type = event.subject_type
    permission = f"{content_type.app_label}.view_{content_type.model}"
    try:
        url = reverse(
            f"admin:{content_type.app_label}_{content_type.model}_change", args=[event.subject_id]
        )
    except NoReverseMatch:
        return None, ""
    return url, permission


def entries_visible_to(user: Any, entries: Sequence[TimelineEntry]) -> list[TimelineEntry]:
    """``entries`` with the links ``user`` may not open removed (the line itself stays): a
    support user sees that a dispute was opened, without a link to the finance-only page.
    Costs at most the one query that loads the user's permissions."""
    return [
        entry
        if entry.subject_url is None or user.has_perm(entry.subject_permission)
        else replace(entry, subject_url=None)
        for entry in entries
    ]


def timeline_page_visible_to(user: Any, page: TimelinePage) -> TimelinePage:
    """``page`` with the links ``user`` may not open removed (``entries_visible_to``)."""
    return replace(page, entries=entries_visible_to(user, page.entries))


def newest_entry_ids(entries: Sequence[TimelineEntry], subject_model: str) -> set[int]:
    """The ids of the newest entry of each ``subject_model`` object among ``entries`` (newest
    first): where a page puts one action per object (resend a message on its latest line)."""
    seen: set[str] = set()
    found: set[int] = set()
    for entry in entries:
        if entry.subject_model == subject_model and entry.subject_id not in seen:
            seen.add(entry.subject_id)
            found.add(entry.id)
    return found


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
    subject_url, permission = _subject_url(event)
    return TimelineEntry(
        id=event.pk,
        type=event.type,
        kind=event.kind,
        label=label,
        summary=render_summary(event),
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        actor=actor,
        subject_label=event.subject_label,
        subject_url=subject_url,
        subject_permission=permission,
        subject_model=(
            f"{event.subject_type.app_label}.{event.subject_type.model}"
            if event.subject_type is not None
            else ""
        ),
        subject_id=event.subject_id,
    )


def customer_timeline(
    *,
    customer: Customer,
    before: str | None = None,
    kinds: Sequence[str] | None = None,
    limit: int = TIMELINE_PAGE_SIZE,
) -> TimelinePage:
    """The customer's DomainEvents, newest recorded first, keyset-paginated on (recorded_at, id).

    Ordered by when we recorded each event, not by the time its source gave it (kept as
    ``occurred_at``): a provider's clock, or a late webhook, never puts our own follow-up (the
    e-mail a payment sent) before the payment. ``before`` is the ``next_cursor`` of the
    previous page; InvalidCursor when it is not one. Runs one query whatever the page size or
    the customer's history (actor and subject type are joined, not fetched per row), a range
    on the (customer[, kind], recorded_at, id) index bounded above by the cursor."""
    limit = max(1, min(limit, TIMELINE_MAX_PAGE_SIZE))
    events = (
        DomainEvent.objects.filter(customer=customer)
        .select_related("actor", "subject_type")
        .order_by("-recorded_at", "-id")
    )
    if kinds:
        events = events.filter(kind__in=list(kinds))
    if before:
        recorded_at, event_id = decode_cursor(before)
        # The upper bound on recorded_at alone is what the index range uses; the OR then
        # drops the entries of the same instant already shown.
        events = events.filter(recorded_at__lte=recorded_at).filter(
            Q(recorded_at__lt=recorded_at) | Q(id__lt=event_id)
        )
    rows = list(events[: limit + 1])
    page, extra = rows[:limit], rows[limit:]
    next_cursor = encode_cursor(page[-1].recorded_at, page[-1].pk) if extra else None
    return TimelinePage(entries=[_entry(e) for e in page], next_cursor=next_cursor)
