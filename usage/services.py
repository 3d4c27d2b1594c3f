"""Product-usage ingestion: batches checked against the tracking plan, stored once per client
event id, counted into the per-customer aggregates with set-based writes; the quarantine and its
release.

Aggregates (``CustomerUsage``, ``CustomerUsageDay``, ``CustomerFeatureUsage``) are updated by
upserts that add the batch's counts and move first/last seen outwards, so late and out-of-order
events land where they belong and nothing is recomputed from all events.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Customer, CustomerIdentifier, User
from integrations.bulk import datetime_adapter, insert_rows
from integrations.events import NewEvent, record_events
from integrations.models import DomainEvent
from usage.models import (
    CustomerFeatureUsage,
    CustomerUsage,
    CustomerUsageDay,
    QuarantinedUsageEvent,
    UsageEvent,
)
from usage.plan import Checked, check_event, identity_of, load_plan

MAX_BATCH = 1000
ACCEPTED, DUPLICATE, QUARANTINED = "accepted", "duplicate", "quarantined"
_CHUNK = 250


@dataclass(frozen=True)
class UsageEventResult:
    id: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class _Accepted:
    source: str
    client_event_id: str
    checked: Checked


def _customer_ids(raws: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """Each identity the events name -> the customer's id; at most three queries."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for raw in raws:
        identity = identity_of(raw.get("customer"))
        if not isinstance(identity, str):
            wanted[identity[0]].add(identity[1])
    found: dict[tuple[str, str], int] = {}
    if wanted["email"]:
        by_email = (
            Customer.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=wanted["email"])
            .values_list("email_lower", "pk")
        )
        found.update({("email", email): pk for email, pk in by_email})
    if wanted["external_id"]:
        by_external_id = CustomerIdentifier.objects.filter(
            system=CustomerIdentifier.System.PRODUCT, external_id__in=wanted["external_id"]
        ).values_list("external_id", "customer_id")
        found.update({("external_id", ext): pk for ext, pk in by_external_id})
    if wanted["id"]:
        ids = [int(v) for v in wanted["id"]]
        for pk in Customer.objects.filter(pk__in=ids).values_list("pk", flat=True):
            found[("id", str(pk))] = pk
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _customer_id_of(raw: Mapping[str, Any], customers: Mapping[tuple[str, str], int]) -> int | None:
    identity = identity_of(raw.get("customer"))
    return None if isinstance(identity, str) else customers.get(identity)


def _quarantine_row(
    *,
    source: str,
    raw: Mapping[str, Any],
    reason: str,
    customer_id: int | None,
    ingest_id: uuid.UUID,
    now: datetime,
) -> QuarantinedUsageEvent:
    customer = raw.get("customer")
    event = raw.get("event")
    timestamp = raw.get("timestamp")
    properties = raw.get("properties")
    return QuarantinedUsageEvent(
        source=source,
        client_event_id=str(raw["id"]),
        event=event[:64] if isinstance(event, str) else "",
        # As sent (any JSON but null), so a release checks exactly what the product sent.
        customer_ref={} if customer is None else customer,
        customer_id=customer_id,
        timestamp=timestamp[:64] if isinstance(timestamp, str) else "",
        properties={} if properties is None else properties,
        reason=reason,
        received_at=now,
        ingest_id=ingest_id,
    )


def _upsert(table: str, keys: Sequence[str], columns: Sequence[str], sets: str, rows: list) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET ``sets``: one statement per chunk of rows;
    the same SQL on SQLite (3.24+) and PostgreSQL."""
    quote = connection.ops.quote_name
    # Names come from our models' metadata; values go as parameters.
    columns_sql = ", ".join(map(quote, columns))
    head = f"INSERT INTO {quote(table)} ({columns_sql}) VALUES "  # noqa: S608  # nosec B608  # table and column names from model metadata, quoted; values bound
    tail = f" ON CONFLICT ({', '.join(map(quote, keys))}) DO UPDATE SET {sets}"  # nosec B608  # key names and SET clause from model metadata; values bound
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            cursor.execute(
                head + ", ".join([one] * len(chunk)) + tail, [v for r in chunk for v in r]
            )


def _earlier(table: str, column: str) -> str:
    quote = connection.ops.quote_name
    mine, theirs = f"{quote(table)}.{quote(column)}", f"excluded.{quote(column)}"
    return f"{quote(column)} = CASE WHEN {theirs} < {mine} THEN {theirs} ELSE {mine} END"


def _later(table: str, column: str) -> str:
    quote = connection.ops.quote_name
    mine, theirs = f"{quote(table)}.{quote(column)}", f"excluded.{quote(column)}"
    return f"{quote(column)} = CASE WHEN {theirs} > {mine} THEN {theirs} ELSE {mine} END"


def _plus(table: str, column: str) -> str:
    quote = connection.ops.quote_name
    return f"{quote(column)} = {quote(table)}.{quote(column)} + excluded.{quote(column)}"


def _count_into_aggregates(events: Sequence[Checked]) -> None:
    """Add ``events`` to the customers' aggregates: three upserts, whatever the batch size."""
    if not events:
        return
    ops = connection.ops
    dt, day_value = datetime_adapter(), ops.adapt_datefield_value
    per_customer: dict[int, list[Any]] = {}
    per_day: dict[tuple[int, date], int] = defaultdict(int)
    per_feature: dict[tuple[int, str], list[Any]] = {}
    for e in events:
        c = per_customer.setdefault(e.customer_id, [e.occurred_at, e.occurred_at, 0])
        c[0], c[1], c[2] = min(c[0], e.occurred_at), max(c[1], e.occurred_at), c[2] + 1
        per_day[(e.customer_id, e.occurred_at.date())] += 1
        f = per_feature.setdefault((e.customer_id, e.feature), [0, e.occurred_at, e.occurred_at])
        f[0], f[1], f[2] = f[0] + 1, min(f[1], e.occurred_at), max(f[2], e.occurred_at)
    table = CustomerUsage._meta.db_table
    _upsert(
        table,
        ["customer_id"],
        ["customer_id", "first_seen_at", "last_seen_at", "events"],
        ", ".join(
            [
                _earlier(table, "first_seen_at"),
                _later(table, "last_seen_at"),
                _plus(table, "events"),
            ]
        ),
        [[pk, dt(first), dt(last), n] for pk, (first, last, n) in sorted(per_customer.items())],
    )
    table = CustomerUsageDay._meta.db_table
    _upsert(
        table,
        ["customer_id", "day"],
        ["customer_id", "day", "events"],
        _plus(table, "events"),
        [[pk, day_value(day), n] for (pk, day), n in sorted(per_day.items())],
    )
    table = CustomerFeatureUsage._meta.db_table
    _upsert(
        table,
        ["customer_id", "feature"],
        ["customer_id", "feature", "uses", "first_used_at", "last_used_at"],
        ", ".join(
            [
                _plus(table, "uses"),
                _earlier(table, "first_used_at"),
                _later(table, "last_used_at"),
            ]
        ),
        [
            [pk, feature, n, dt(first), dt(last)]
            for (pk, feature), (n, first, last) in sorted(per_feature.items())
        ],
    )


def _store_accepted(items: Sequence[_Accepted], *, now: datetime) -> set[tuple[str, str]]:
    """Insert the accepted events that are not stored yet, count them into the aggregates and
    put them on the timelines. Returns the ``(source, client event id)`` pairs this call
    inserted (a concurrent call inserting the same ids first gets them, not this one)."""
    if not items:
        return set()
    ingest_id = uuid.uuid4()
    insert_rows(
        UsageEvent,
        (
            "source",
            "client_event_id",
            "customer",
            "event",
            "feature",
            "occurred_at",
            "properties",
            "received_at",
            "ingest_id",
        ),
        [
            (
                item.source,
                item.client_event_id,
                item.checked.customer_id,
                item.checked.event,
                item.checked.feature,
                item.checked.occurred_at,
                item.checked.properties,
                now,
                ingest_id,
            )
            for item in items
        ],
        ignore_conflicts=True,
    )
    mine = set(
        UsageEvent.objects.filter(ingest_id=ingest_id).values_list("source", "client_event_id")
    )
    inserted = [item for item in items if (item.source, item.client_event_id) in mine]
    _count_into_aggregates([item.checked for item in inserted])
    record_events(
        type="usage.tracked",
        actor_label="product",
        events=[
            NewEvent(
                customer_id=item.checked.customer_id,
                occurred_at=item.checked.occurred_at,
                data={
                    "event": item.checked.event,
                    "feature": item.checked.feature,
                    "client_event_id": item.client_event_id,
                    "properties": {
                        k: _as_text(v)[:200] for k, v in item.checked.properties.items()
                    },
                },
            )
            for item in inserted
        ],
    )
    return mine


def usage_events_ingest(
    *, source: str, events: Sequence[Mapping[str, Any]]
) -> list[UsageEventResult]:
    """Take a batch of usage events from ``source`` (the API client): each is accepted (stored,
    counted, on the customer's timeline), a duplicate (its id was stored before by this source,
    or earlier in the batch: nothing written), or quarantined with the reasons.

    Idempotent per ``(source, id)``: a retried batch answers duplicate for every event and
    changes nothing. Each event must be a mapping with a string ``id`` (the API checks this and
    the batch size, ``MAX_BATCH``). One transaction; a fixed number of statements per batch."""
    now = timezone.now()
    results: dict[int, UsageEventResult] = {}
    first_of: dict[str, int] = {}
    for index, raw in enumerate(events):
        event_id = str(raw["id"])
        if event_id in first_of:
            results[index] = UsageEventResult(event_id, DUPLICATE, "repeated in this batch")
        else:
            first_of[event_id] = index
    unique = {index: events[index] for index in first_of.values()}
    plan = load_plan()
    customers = _customer_ids(unique.values())
    with transaction.atomic():
        ids = list(first_of)
        seen = set(
            UsageEvent.objects.filter(source=source, client_event_id__in=ids).values_list(
                "client_event_id", flat=True
            )
        ) | set(
            QuarantinedUsageEvent.objects.filter(
                source=source, client_event_id__in=ids
            ).values_list("client_event_id", flat=True)
        )
        accepted: list[tuple[int, _Accepted]] = []
        quarantined: list[tuple[int, str]] = []
        for index, raw in unique.items():
            event_id = str(raw["id"])
            if event_id in seen:
                results[index] = UsageEventResult(event_id, DUPLICATE, "already received")
                continue
            checked = check_event(raw, plan=plan, customers=customers, now=now)
            if isinstance(checked, Checked):
                accepted.append((index, _Accepted(source, event_id, checked)))
            else:
                quarantined.append((index, "; ".join(checked)))
        stored = _store_accepted([item for _, item in accepted], now=now)
        for index, item in accepted:
            new = (source, item.client_event_id) in stored
            results[index] = UsageEventResult(
                item.client_event_id,
                ACCEPTED if new else DUPLICATE,
                "" if new else "already received",
            )
        if quarantined:
            ingest_id = uuid.uuid4()
            QuarantinedUsageEvent.objects.bulk_create(
                [
                    _quarantine_row(
                        source=source,
                        raw=unique[i],
                        reason=reason,
                        customer_id=_customer_id_of(unique[i], customers),
                        ingest_id=ingest_id,
                        now=now,
                    )
                    for i, reason in quarantined
                ],
                ignore_conflicts=True,
                batch_size=_CHUNK,
            )
            kept = set(
                QuarantinedUsageEvent.objects.filter(ingest_id=ingest_id).values_list(
                    "client_event_id", flat=True
                )
            )
            for index, reason in quarantined:
                event_id = str(unique[index]["id"])
                results[index] = (
                    UsageEventResult(event_id, QUARANTINED, reason)
                    if event_id in kept
                    else UsageEventResult(event_id, DUPLICATE, "already received")
                )
    return [results[index] for index in range(len(events))]


@dataclass(frozen=True)
class ReleaseResult:
    released: int
    still_quarantined: int


def _as_sent(row: QuarantinedUsageEvent) -> dict[str, Any]:
    return {
        "id": row.client_event_id,
        "customer": row.customer_ref,
        "event": row.event,
        "timestamp": row.timestamp,
        "properties": row.properties,
    }


def usage_quarantine_release(
    *, events: Iterable[QuarantinedUsageEvent], actor: User | None = None
) -> ReleaseResult:
    """Check quarantined events again against today's plan and customers: those that pass are
    stored and counted as if just received (their own timestamps) and marked released; the rest
    stay quarantined with the new reason. Released rows are skipped, so releasing twice counts
    once. One transaction."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            QuarantinedUsageEvent.objects.select_for_update()
            .filter(
                pk__in=[row.pk for row in events],
                status=QuarantinedUsageEvent.Status.QUARANTINED,
            )
            .order_by("pk")
        )
        plan = load_plan()
        sent = {row.pk: _as_sent(row) for row in rows}
        customers = _customer_ids(sent.values())
        passing: list[tuple[QuarantinedUsageEvent, _Accepted]] = []
        failing: list[QuarantinedUsageEvent] = []
        for row in rows:
            checked = check_event(sent[row.pk], plan=plan, customers=customers, now=now)
            if isinstance(checked, Checked):
                passing.append((row, _Accepted(row.source, row.client_event_id, checked)))
            else:
                row.reason = "; ".join(checked)
                row.customer_id = _customer_id_of(sent[row.pk], customers)
                failing.append(row)
        _store_accepted([item for _, item in passing], now=now)
        for row, item in passing:
            row.status = QuarantinedUsageEvent.Status.RELEASED
            row.released_at = now
            row.released_by = actor
            row.customer_id = item.checked.customer_id
        QuarantinedUsageEvent.objects.bulk_update(
            [row for row, _ in passing],
            ["status", "released_at", "released_by", "customer"],
            batch_size=_CHUNK,
        )
        QuarantinedUsageEvent.objects.bulk_update(
            failing, ["reason", "customer"], batch_size=_CHUNK
        )
    return ReleaseResult(released=len(passing), still_quarantined=len(failing))


def usage_aggregates_rebuild(*, customer_ids: Sequence[int]) -> None:
    """Recompute the aggregates of these customers from their stored usage events (after a
    merge moved events from one customer to another; never on the ingest path). Idempotent."""
    ids = list(customer_ids)
    with transaction.atomic():
        CustomerUsage.objects.filter(customer_id__in=ids).delete()
        CustomerUsageDay.objects.filter(customer_id__in=ids).delete()
        CustomerFeatureUsage.objects.filter(customer_id__in=ids).delete()
        stored = UsageEvent.objects.filter(customer_id__in=ids)
        summary = stored.values("customer_id").annotate(
            first=Min("occurred_at"), last=Max("occurred_at"), n=Count("id")
        )
        CustomerUsage.objects.bulk_create(
            CustomerUsage(
                customer_id=s["customer_id"],
                first_seen_at=s["first"],
                last_seen_at=s["last"],
                events=s["n"],
            )
            for s in summary
        )
        days: dict[tuple[int, date], int] = defaultdict(int)
        for customer_id, occurred_at in stored.values_list("customer_id", "occurred_at").iterator():
            days[(customer_id, occurred_at.date())] += 1
        CustomerUsageDay.objects.bulk_create(
            CustomerUsageDay(customer_id=pk, day=day, events=n) for (pk, day), n in days.items()
        )
        features = stored.values("customer_id", "feature").annotate(
            first=Min("occurred_at"), last=Max("occurred_at"), n=Count("id")
        )
        CustomerFeatureUsage.objects.bulk_create(
            CustomerFeatureUsage(
                customer_id=f["customer_id"],
                feature=f["feature"],
                uses=f["n"],
                first_used_at=f["first"],
                last_used_at=f["last"],
            )
            for f in features
        )


def usage_record(
    *,
    customer: Customer,
    name: str,
    properties: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
    source: str = "switchboard",
) -> UsageEventResult:
    """One usage event for ``customer`` through the same path as the API (demo seeding, tests),
    with a fresh client event id. Quarantined like any other when the plan refuses it."""
    when = occurred_at or timezone.now()
    return usage_events_ingest(
        source=source,
        events=[
            {
                "id": f"sb-{uuid.uuid4().hex}",
                "customer": {"id": customer.pk},
                "event": name,
                "timestamp": when.isoformat(),
                "properties": dict(properties or {}),
            }
        ],
    )[0]


def usage_aggregates_after_merge(*, event: DomainEvent) -> None:
    """``customer.merged``: the kept customer's aggregates now include the merged customers'
    events (moved by the merge); the merged customers' rows go."""
    merged = event.data.get("merged_ids") if isinstance(event.data, dict) else None
    ids = [i for i in merged or [] if isinstance(i, int)]
    if event.customer_id is not None:
        usage_aggregates_rebuild(customer_ids=[event.customer_id, *ids])
