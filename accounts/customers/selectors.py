"""Reads over customers: the unified timeline."""

from __future__ import annotations

import base64
import binascii
import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import reduce
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast
from django.urls import NoReverseMatch, reverse

from accounts.customers.exceptions import InvalidCursor
from accounts.customers.timeline_search import SEARCH_MAX_LENGTH, timeline_text_searches
from accounts.models import Customer
from integrations.events import get_event_type, render_summary
from integrations.exceptions import UnknownEventType
from integrations.models import DomainEvent

TIMELINE_PAGE_SIZE = 50
TIMELINE_MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class TimelineSource:
    key: str
    label: str
    kinds: tuple[str, ...]
    """Event kinds (the type's first segment) that belong to this source."""
    extra_types: tuple[tuple[str, str], ...] = ()
    """(kind, type) pairs of single types from another kind (``customer.plan_activated``)."""


# Where each event comes from, by the type's prefix (the contract shared with the CRM and
# analytics work): the customer page's source filter.
TIMELINE_SOURCES: tuple[TimelineSource, ...] = (
    TimelineSource("orders", "Orders", ("order",)),
    TimelineSource("payments", "Payments", ("payment", "refund", "dispute", "reconciliation")),
    TimelineSource("shipping", "Shipping", ("shipment",)),
    TimelineSource("messages", "Messages", ("notification", "consent")),
    TimelineSource("usage", "Usage", ("usage",)),
    TimelineSource("crm", "CRM", ("crm",), (("customer", "customer.plan_activated"),)),
    TimelineSource("notes", "Notes", ("note",)),
)
_SOURCES_BY_KEY = {source.key: source for source in TIMELINE_SOURCES}

# A message's lifecycle: these events of one notification show as one entry, its newest, with
# the time of each state reached (``TimelineEntry.states``).
MESSAGE_STATE_TYPES = (
    "notification.queued",
    "notification.deferred",
    "notification.sent",
    "notification.delivered",
    "notification.read",
    "notification.failed",
)
_MESSAGE_MODEL = ("notifications", "notification")


def known_sources(keys: Sequence[str]) -> list[str]:
    """``keys`` that name a source, in the sources' order (unknown ones dropped)."""
    wanted = set(keys)
    return [source.key for source in TIMELINE_SOURCES if source.key in wanted]


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
    states: tuple[tuple[str, datetime], ...] = ()
    """For a message collapsed into one entry: each state it reached (``sent``) and when we
    recorded it, oldest first; empty for any other entry."""

    @property
    def state(self) -> str:
        """The collapsed message's latest state (``delivered``), or empty."""
        return self.states[-1][0] if self.states else ""

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


def _source_parts(sources: Sequence[str]) -> list[Q]:
    """One condition per kind (or single type) of the chosen sources: each a range of the
    (customer, kind, recorded_at, id) index."""
    parts: list[Q] = []
    for key in sources:
        source = _SOURCES_BY_KEY[key]
        parts.extend(Q(kind=kind) for kind in source.kinds)
        parts.extend(Q(kind=kind, type=type_) for kind, type_ in source.extra_types)
    return parts


SEARCH_DRIVEN_MAX = 500
"""Up to this many matching notes and messages, the search reads their events through the
subject index and sorts them; beyond it, it walks the customer's timeline in order (matches are
then dense enough that a page fills early)."""


def _search_condition(customer: Customer, term: str) -> tuple[Q, bool]:
    """(condition, few): the entries whose subject is a note or a message whose text contains
    ``term`` (``timeline_search``). One query per searchable model reads at most
    ``SEARCH_DRIVEN_MAX + 1`` matching ids; when all fit, the condition names them (``few``),
    else it is a subquery per model."""
    searches = timeline_text_searches()
    found: list[tuple[int, list[str]]] = []
    few = True
    for search in searches:
        content_type = ContentType.objects.get_for_model(search.model).pk
        ids = [
            str(pk)
            for pk in search.matches(customer.pk, term)
            .order_by()
            .values_list("pk", flat=True)[: SEARCH_DRIVEN_MAX + 1]
        ]
        few = few and len(ids) <= SEARCH_DRIVEN_MAX
        found.append((content_type, ids))
    condition = Q()
    if few:
        for content_type, ids in found:
            if ids:
                condition |= Q(subject_type_id=content_type, subject_id__in=ids)
        return condition or Q(pk__in=[]), True
    for search in searches:
        ids_query = (
            search.matches(customer.pk, term).annotate(key=Cast("pk", CharField())).values("key")
        )
        condition |= Q(
            subject_type=ContentType.objects.get_for_model(search.model), subject_id__in=ids_query
        )
    return condition, False


def _newest_ids(events: Any, parts: Sequence[Q], limit: int) -> list[int]:
    """The ids of the ``limit`` newest of ``events`` matching any of ``parts``: one query,
    a UNION ALL of each part's own newest ``limit`` (each a range of its index, no sort of
    the customer's history), merged and cut in SQL."""
    selects: list[str] = []
    params: list[Any] = []
    for number, part in enumerate(parts):
        query = (
            events.filter(part).order_by("-recorded_at", "-id").values_list("recorded_at", "id")
        )[:limit]
        sql, part_params = query.query.sql_with_params()
        # Django's own SQL, its values as parameters; each part is a subquery so that it may
        # keep its ORDER BY and LIMIT inside the UNION (PostgreSQL wants it named).
        selects.append(f"SELECT * FROM ({sql}) AS part{number}")  # noqa: S608  # nosec B608  # ORM-compiled parts, values bound
        params.extend(part_params)
    union = " UNION ALL ".join(selects) + f" ORDER BY 1 DESC, 2 DESC LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(union, params)
        return [int(row[1]) for row in cursor.fetchall()]


def _only_newest_message_state(events: Any) -> Any:
    """Drops a message's state event when a newer one of the same message exists: one probe
    of the subject index per message entry."""
    newer = DomainEvent.objects.filter(
        subject_type=OuterRef("subject_type"),
        subject_id=OuterRef("subject_id"),
        type__in=MESSAGE_STATE_TYPES,
    ).filter(
        Q(recorded_at__gt=OuterRef("recorded_at"))
        | Q(recorded_at=OuterRef("recorded_at"), id__gt=OuterRef("id"))
    )
    return events.filter(~Q(type__in=MESSAGE_STATE_TYPES) | ~Exists(newer))


def _with_message_states(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Each collapsed message entry with the states its message reached. One query (none
    when the page has no message)."""
    ids = {
        e.subject_id
        for e in entries
        if e.type in MESSAGE_STATE_TYPES and e.subject_model == ".".join(_MESSAGE_MODEL)
    }
    if not ids:
        return entries
    states: dict[str, list[tuple[str, datetime]]] = {}
    for subject_id, type_, recorded_at in (
        DomainEvent.objects.filter(
            subject_type__app_label=_MESSAGE_MODEL[0],
            subject_type__model=_MESSAGE_MODEL[1],
            subject_id__in=ids,
            type__in=MESSAGE_STATE_TYPES,
        )
        .order_by("recorded_at", "id")
        .values_list("subject_id", "type", "recorded_at")
    ):
        states.setdefault(subject_id, []).append((type_.split(".", 1)[1], recorded_at))
    return [
        replace(e, states=tuple(states.get(e.subject_id, ())))
        if e.subject_id in ids and e.type in MESSAGE_STATE_TYPES
        else e
        for e in entries
    ]


def customer_timeline(
    *,
    customer: Customer,
    before: str | None = None,
    kinds: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    search: str = "",
    collapse_messages: bool = False,
    limit: int = TIMELINE_PAGE_SIZE,
) -> TimelinePage:
    """The customer's DomainEvents, newest recorded first, keyset-paginated on (recorded_at, id).

    Ordered by when we recorded each event, not by the time its source gave it (kept as
    ``occurred_at``): a provider's clock, or a late webhook, never puts our own follow-up (the
    e-mail a payment sent) before the payment. ``before`` is the ``next_cursor`` of the
    previous page; InvalidCursor when it is not one. Runs one query whatever the page size or
    the customer's history (actor and subject type are joined, not fetched per row), a range
    on the (customer[, kind], recorded_at, id) index bounded above by the cursor.

    ``sources`` keeps the events of those ``TIMELINE_SOURCES`` (unknown keys are ignored): one
    kind filters the index range; several read each kind's newest ids in one UNION ALL, then
    the rows (two queries). ``search`` keeps the notes and messages whose text contains it
    (``timeline_search``; one more query per searchable model; few matches are read through
    the subject index, many by walking the timeline). ``collapse_messages`` shows a message's
    queued/sent/delivered/read as one entry, its newest, with ``states`` (one more query when
    the page holds a message)."""
    limit = max(1, min(limit, TIMELINE_MAX_PAGE_SIZE))
    events = DomainEvent.objects.all()
    if kinds:
        events = events.filter(kind__in=list(kinds))
    if collapse_messages:
        events = _only_newest_message_state(events)
    if before:
        recorded_at, event_id = decode_cursor(before)
        # The upper bound on recorded_at alone is what the index range uses; the OR then
        # drops the entries of the same instant already shown.
        events = events.filter(recorded_at__lte=recorded_at).filter(
            Q(recorded_at__lt=recorded_at) | Q(id__lt=event_id)
        )
    parts = _source_parts(known_sources(sources or ()))
    term = search.strip()[:SEARCH_MAX_LENGTH]
    few = False
    if term:
        condition, few = _search_condition(customer, term)
        events = events.filter(condition)
    if few:
        # A few notes and messages: their events through the subject index (they are this
        # customer's by construction), sorted; not a walk of the whole timeline.
        if parts:
            events = events.filter(reduce(operator.or_, parts))
    else:
        events = events.filter(customer=customer)
        if len(parts) == 1:
            events = events.filter(parts[0])
        elif parts:
            events = DomainEvent.objects.filter(pk__in=_newest_ids(events, parts, limit + 1))
    events = events.select_related("actor", "subject_type").order_by("-recorded_at", "-id")
    rows = list(events[: limit + 1])
    page, extra = rows[:limit], rows[limit:]
    next_cursor = encode_cursor(page[-1].recorded_at, page[-1].pk) if extra else None
    entries = [_entry(e) for e in page]
    if collapse_messages:
        entries = _with_message_states(entries)
    return TimelinePage(entries=entries, next_cursor=next_cursor)
