"""Writes of the receiving side: store a verified delivery once, count a refused one (and keep a
bounded sample of refusals).

Nothing here calls a provider or touches a domain row; processing happens after commit, in a task.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from ipaddress import ip_address, ip_network
from time import monotonic
from typing import Any, cast

import structlog
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Field, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.models import WebhookArrival, WebhookArrivalMark, WebhookEvent, WebhookRejection
from integrations.models.webhooks import WebhookDrainSlot, WebhookRejectionCounter
from integrations.webhooks.registry import ParsedWebhook

log = structlog.get_logger(__name__)

ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
DRAIN_TASK = "integrations.webhooks.tasks.drain"


@dataclass(frozen=True)
class StoreResult:
    """``event_id``: the inbox row, when it exists as the delivery is answered; ``receipt``: the
    WebhookArrival holding it otherwise (the embedded profile's receiver, until the drain moves
    it). One of the two is set."""

    event_id: int | None
    created: bool
    receipt: int | None = None


def scrub_headers(headers: Mapping[str, str], secret_headers: frozenset[str]) -> dict[str, str]:
    """Lower-cased headers without the endpoint's secret headers, credentials or cookies."""
    hidden = _hidden_headers(frozenset(secret_headers))
    scrubbed = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in hidden:
            scrubbed[lowered] = value
    return scrubbed


@cache
def _hidden_headers(secret_headers: frozenset[str]) -> frozenset[str]:
    """The header names never stored for an endpoint (one set per endpoint, made once)."""
    return ALWAYS_SECRET_HEADERS | {name.lower() for name in secret_headers}


def webhook_event_store(
    *, provider: str, parsed: ParsedWebhook, headers: Mapping[str, str], body: str
) -> StoreResult:
    """Insert a verified, parsed delivery as ``received`` and due now, in one short transaction.

    Idempotent: a second delivery of the same ``(provider, event_id)`` changes nothing and returns
    the stored row's id with ``created=False`` (the unique constraint decides, so this holds under
    concurrent deliveries on SQLite and PostgreSQL). Processing is enqueued only after the insert
    commits. ``headers`` must already be scrubbed of secrets.

    On a SQLite file in autocommit (the embedded profile's receiver, behind ``sqlite_write_gate``)
    the delivery is stored as a WebhookArrival instead, which the drain moves into the inbox
    (``webhook_arrivals_move``); the result then holds its ``receipt``. WEBHOOK_ARRIVALS=False
    writes the inbox there too (as before arrivals: every inbox index on the answer's path)."""
    connection = connections[router.db_for_write(WebhookEvent)]
    gated = _gate_applies(connection)
    arrival = gated and settings.WEBHOOK_ARRIVALS
    plan = _insert_plan(connection, arrival=arrival)
    now = plan.bind_time(timezone.now(), connection)
    # An arrival's values are the inbox row's first ones (ARRIVAL_FIELDS); the inbox row adds
    # its processing state: received, no attempt, due now.
    params: tuple[Any, ...] = (
        provider,
        parsed.event_id,
        parsed.event_type,
        plan.bind_json(dict(headers), connection),
        body,
        now,  # received_at
        plan.bind_time(parsed.occurred_at, connection),
        parsed.object_id,
    )
    if not arrival:
        params += (WebhookEvent.Status.RECEIVED.value, 0, now, plan.no_affected, "", "", "")
    checkpoint_due = False
    # The gate's conditions were checked above (``gated``): take it, or pass straight through.
    with _gate_held(connection) if gated else nullcontext() as gate:
        if gate is not None and not connection.queries_logged:
            row = _sqlite_insert(connection, plan, params)
        else:
            with connection.cursor() as cursor:
                if gate is not None:
                    _sqlite_checkpoint_backstop(connection, cursor)
                cursor.execute(plan.sql, params)
                row = cursor.fetchone()
        if gate is not None:
            checkpoint_due = gate.count_store()
    if checkpoint_due:
        _sqlite_checkpoint_mark_due(connection.alias)
    if row is None:
        return _stored_already(provider, parsed.event_id)
    if gated:  # autocommit: the row is committed already
        enqueue_webhook_event(row[0], receipt=arrival)
        if arrival:
            return StoreResult(event_id=None, created=True, receipt=row[0])
        return StoreResult(event_id=row[0], created=True)
    transaction.on_commit(partial(enqueue_webhook_event, row[0]), using=connection.alias)
    return StoreResult(event_id=row[0], created=True)


def _stored_already(provider: str, event_id: str) -> StoreResult:
    """The result for a duplicate: the inbox row if there is one, else the arrival."""
    existing = (
        WebhookEvent.objects.filter(provider=provider, event_id=event_id)
        .values_list("pk", flat=True)
        .first()
    )
    if existing is not None:
        return StoreResult(event_id=existing, created=False)
    arrival = (
        WebhookArrival.objects.filter(provider=provider, event_id=event_id)
        .values_list("pk", flat=True)
        .first()
    )
    if arrival is None:
        raise IntegrityError(f"Could not store {provider} event {event_id}.")
    return StoreResult(event_id=None, created=False, receipt=arrival)


def _sqlite_insert(
    connection: BaseDatabaseWrapper, plan: _InsertPlan, params: tuple[Any, ...]
) -> tuple[int] | None:
    """The insert on SQLite's own cursor, inside the write gate: the statement is already in
    SQLite's ``?`` style, so Django's per-call rewrite of it and its cursor wrappers are skipped
    and the gate is held for SQLite's work only. Errors still surface as Django's; the health
    check still runs as for any cursor. (Used only while no query log is kept: with DEBUG or a
    test capturing queries, the statement goes through Django's cursor and is logged.)"""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection.connection.cursor()
        try:
            _sqlite_checkpoint_backstop(connection, cursor)
            cursor.execute(plan.sqlite_sql, params)
            return cast("tuple[int] | None", cursor.fetchone())
        finally:
            cursor.close()


ARRIVAL_FIELDS = (
    "provider",
    "event_id",
    "event_type",
    "headers",
    "body",
    "received_at",
    "occurred_at",
    "object_id",
)
"""The columns ``webhook_event_store`` writes into an arrival, in the order of its values; each
is the inbox's column of the same name (``webhook_arrivals_move`` copies them)."""

INSERTED_FIELDS = (
    *ARRIVAL_FIELDS,
    "status",
    "attempts",
    "next_attempt_at",
    "affected",
    "last_error",
    "traceback",
    "claim_token",
)
"""The columns ``webhook_event_store`` writes into the inbox, in the order of its values."""


@dataclass(frozen=True)
class _InsertPlan:
    """The statement and how its values are bound: str and int as they are; times and JSON as the
    model field would adapt them for the backend (an ORM save), or, on SQLite with USE_TZ and a
    UTC connection, directly as that backend does (naive UTC ``str()``, ``json.dumps``), which
    skips Django's generic field machinery (tests/integrations/webhooks/test_ingest_path.py
    checks both agree)."""

    vendor: str
    sql: str
    sqlite_sql: str
    """``sql`` in SQLite's ``?`` parameter style."""
    fields: dict[str, Field[Any, Any]]
    no_affected: Any
    """``affected=[]`` as the backend binds it, made once."""
    direct: bool
    """Bind times and JSON directly (SQLite, USE_TZ, UTC)."""

    def bind_time(self, value: datetime | None, connection: BaseDatabaseWrapper) -> Any:
        if self.direct:
            return None if value is None else str(value.astimezone(UTC).replace(tzinfo=None))
        return self.fields["received_at"].get_db_prep_save(value, connection)

    def bind_json(self, value: dict[str, str], connection: BaseDatabaseWrapper) -> Any:
        if self.direct:
            return json.dumps(value)
        return self.fields["headers"].get_db_prep_save(value, connection)


_insert_plans: dict[tuple[str, bool], _InsertPlan] = {}


def _insert_plan(connection: BaseDatabaseWrapper, *, arrival: bool = False) -> _InsertPlan:
    """The inbox's insert statement for ``connection`` (or the arrival's), built once per process
    and database."""
    plan = _insert_plans.get((connection.alias, arrival))
    if plan is not None and plan.vendor == connection.vendor:
        return plan
    meta = (WebhookArrival if arrival else WebhookEvent)._meta
    names = ARRIVAL_FIELDS if arrival else INSERTED_FIELDS
    fields = tuple(cast("Field[Any, Any]", meta.get_field(name)) for name in names)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in fields)
    # One statement, one round trip: the unique constraint decides what is a duplicate, even
    # under concurrent deliveries (SQLite >= 3.35 and PostgreSQL both support RETURNING).
    # Identifiers come from the model's metadata; every value is a bound parameter.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608  # nosec B608  # table and column names from model metadata, quoted; values bound
        f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING RETURNING {quote('id')}"
    )
    by_name = dict(zip(names, fields, strict=True))
    no_affected = WebhookEvent._meta.get_field("affected")
    plan = _InsertPlan(
        vendor=connection.vendor,
        sql=sql,
        sqlite_sql=sql.replace("%s", "?"),
        fields=by_name,
        no_affected=cast("Field[Any, Any]", no_affected).get_db_prep_save([], connection),
        direct=(
            connection.vendor == "sqlite"
            and settings.USE_TZ
            and connection.timezone_name == "UTC"
            and getattr(by_name["headers"], "encoder", None) is None
            and getattr(no_affected, "encoder", None) is None
        ),
    )
    _insert_plans[(connection.alias, arrival)] = plan
    return plan


_STORE_COUNT = struct.Struct("<Q")


@dataclass(frozen=True)
class _GateFile:
    """The write gate of one SQLite file, as opened by one process: the lock file beside the
    database (``flock`` on ``descriptor``) and, mapped from the same file, a count of the inbox
    rows stored in that database by every process (``count_store``)."""

    pid: int
    descriptor: int
    shared: mmap.mmap

    @classmethod
    def open(cls, database: str) -> _GateFile:
        descriptor = os.open(f"{database}-inbox-gate", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if os.fstat(descriptor).st_size < _STORE_COUNT.size:
            os.ftruncate(descriptor, _STORE_COUNT.size)  # only ever grows: racing openers agree
        return cls(os.getpid(), descriptor, mmap.mmap(descriptor, _STORE_COUNT.size))

    def count_store(self) -> bool:
        """Count one inbox insert (a duplicate that wrote nothing counts too); True if the log's
        checkpoint falls due with it (every WEBHOOK_SQLITE_CHECKPOINT_EVERY inserts into this
        database, by any process). Call it holding the gate: the count is read and written under
        the lock."""
        count = _STORE_COUNT.unpack_from(self.shared)[0] + 1
        _STORE_COUNT.pack_into(self.shared, 0, count)
        every: int = settings.WEBHOOK_SQLITE_CHECKPOINT_EVERY
        return count % max(every, 1) == 0

    def stored(self) -> int:
        """Rows counted so far (tests and diagnostics)."""
        return int(_STORE_COUNT.unpack_from(self.shared)[0])


_gate_files: dict[str, _GateFile] = {}
"""The gate's open lock file per database file in this process; a forked worker opens its own (a
lock held through an inherited descriptor would be shared)."""
_gate_lock = threading.Lock()


@contextmanager
def sqlite_write_gate(connection: BaseDatabaseWrapper) -> Iterator[_GateFile | None]:
    """Inbox inserts of every process on one SQLite file queue on an OS file lock beside it.

    SQLite lets one writer in at a time and makes the others poll: a writer that finds the write
    lock taken sleeps 1, 2, 5, 10 ... ms in its busy handler before it tries again, far longer than
    an inbox insert holds the lock (a fraction of a millisecond). Waiting on ``flock`` instead
    wakes the next writer as soon as the holder lets go, so concurrent deliveries to several
    gunicorn workers no longer sleep. Only for a file database in autocommit (the insert is its
    whole transaction, so nothing of SQLite's is held while waiting here, and no writer that
    waits on SQLite ever holds this gate: no deadlock); anything else passes straight through.
    SQLite's own locking still decides correctness; this only orders the inbox's writers.
    Yields the gate taken (its shared store count may be updated inside), or None."""
    if not _gate_applies(connection):
        yield None
        return
    with _gate_held(connection) as gate:
        yield gate


@contextmanager
def _gate_held(connection: BaseDatabaseWrapper) -> Iterator[_GateFile]:
    """The gate's lock of ``connection``'s SQLite file, held (no condition checked)."""
    gate = _gate_file(str(connection.settings_dict["NAME"]))
    with _gate_lock:  # threads of one process (gthread workers) share its descriptor
        fcntl.flock(gate.descriptor, fcntl.LOCK_EX)
        try:
            yield gate
        finally:
            fcntl.flock(gate.descriptor, fcntl.LOCK_UN)


def _gate_applies(connection: BaseDatabaseWrapper) -> bool:
    """A SQLite file in autocommit: the inserts that queue on ``sqlite_write_gate`` (and that
    store arrivals rather than inbox rows)."""
    return (
        connection.vendor == "sqlite"
        and not connection.in_atomic_block
        and connection.get_autocommit()
        and not connection.is_in_memory_db()  # type: ignore[attr-defined]
    )


# --- the WAL checkpoint, off the acknowledgement's path ---------------------------------------
#
# SQLite copies the write-ahead log back into the database file (a checkpoint, with two fsyncs)
# from inside the commit that takes the log past ``wal_autocheckpoint`` pages (1,000 by default):
# for the inbox that is inside the write gate, so every other worker's delivery waits for those
# fsyncs. Connections that store inbox rows raise their automatic threshold to a backstop, and the
# receiver runs a PASSIVE checkpoint itself after the answer has been sent, once every
# WEBHOOK_SQLITE_CHECKPOINT_EVERY events stored in the database (by whichever process stores the
# event that completes the count). PASSIVE never waits for a reader or a writer (a concurrent
# checkpoint makes it return at once), so nobody queues on it.
# The count is kept in the gate file, for every process together: with per-process counts, four
# workers checkpointed four times as often as one, each copying back the same hot index pages.
# Under a steady stream of writes it copies all but the frames appended meanwhile, so the log is
# not restarted and grows until the backstop's checkpoint (inside a commit, like SQLite's default,
# but with only those last frames left to copy) completes and the next writer restarts it.

SQLITE_CHECKPOINT_BACKSTOP_PAGES = 10_000
"""The inbox connections' automatic checkpoint threshold (about 40 MB of log with 4 KiB pages):
reached only if the receiver's own checkpoints stop (a caller outside a request storing many)."""

_checkpoint_due: set[str] = set()
_checkpoint_lock = threading.Lock()  # threads of one process (gthread workers) share the set


def _sqlite_checkpoint_backstop(connection: BaseDatabaseWrapper, cursor: Any) -> None:
    """Raise the connection's automatic checkpoint threshold, once per underlying connection."""
    raw = connection.connection
    if getattr(connection, "_inbox_checkpoint_backstop", None) is raw:
        return
    cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_BACKSTOP_PAGES:d}")
    connection._inbox_checkpoint_backstop = raw  # type: ignore[attr-defined]


def _sqlite_checkpoint_mark_due(alias: str) -> None:
    with _checkpoint_lock:
        _checkpoint_due.add(alias)


def webhook_sqlite_checkpoint_run() -> None:
    """Run the PASSIVE checkpoints that fell due (the receiver calls this once its answer is
    sent). A failure is logged, not raised: SQLite's backstop checkpoint still bounds the log."""
    while True:
        with _checkpoint_lock:
            if not _checkpoint_due:
                return
            alias = _checkpoint_due.pop()
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
        except DatabaseError:
            log.warning("webhook.sqlite_checkpoint_failed", database=alias, exc_info=True)


def _gate_file(database: str) -> _GateFile:
    held = _gate_files.get(database)
    if held is not None and held.pid == os.getpid():
        return held
    gate = _gate_files[database] = _GateFile.open(database)
    return gate


# --- arrivals, moved into the inbox off the acknowledgement's path ---------------------------

ARRIVAL_MOVE_BATCH = 200
"""Arrivals per move, as many as a drain claims per batch: a move holds SQLite's writer (and the
receivers' gate) while it copies them."""

_MOVE_SQL: dict[str, str] = {}


def _move_sql(connection: BaseDatabaseWrapper) -> str:
    """``INSERT INTO inbox (...) SELECT ... FROM arrivals WHERE id in a range ORDER BY id``,
    received and due at once, skipping keys the inbox holds already; built once per database."""
    sql = _MOVE_SQL.get(connection.alias)
    if sql is not None:
        return sql
    quote = connection.ops.quote_name

    def column(model: type[Any], name: str) -> str:
        return quote(str(cast("Field[Any, Any]", model._meta.get_field(name)).column))

    copied = [column(WebhookEvent, name) for name in ARRIVAL_FIELDS]
    source = [column(WebhookArrival, name) for name in ARRIVAL_FIELDS]
    received_at = column(WebhookArrival, "received_at")
    # The inbox's own columns (INSERTED_FIELDS after ARRIVAL_FIELDS): received, no attempt, due
    # since it arrived, nothing affected, no error, no claim.
    set_here = list(INSERTED_FIELDS[len(ARRIVAL_FIELDS) :])
    values = ["%s", "0", received_at, "%s", "''", "''", "''"]
    arrival_id = column(WebhookArrival, "id")
    sql = _MOVE_SQL[connection.alias] = (
        f"INSERT INTO {quote(WebhookEvent._meta.db_table)} "  # noqa: S608  # nosec B608  # names from model metadata, quoted; values bound
        f"({', '.join(copied + [column(WebhookEvent, n) for n in set_here])}) "
        f"SELECT {', '.join(source + values)} FROM {quote(WebhookArrival._meta.db_table)} "
        f"WHERE {arrival_id} > %s AND {arrival_id} <= %s ORDER BY {arrival_id} "
        "ON CONFLICT DO NOTHING"
    )
    return sql


def waiting_arrivals() -> QuerySet[WebhookArrival]:
    """Arrivals not moved into the inbox yet: past the mark (a primary-key range)."""
    mark = WebhookArrivalMark.objects.filter(pk=1).values("moved_through")
    return WebhookArrival.objects.filter(pk__gt=Coalesce(Subquery(mark), 0))


@contextmanager
def _move_gate(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """A move holds the receivers' gate on a SQLite file (taken before its transaction begins):
    receivers then wait on the gate's lock, woken the moment the move commits, instead of sleeping
    in SQLite's busy handler. No deadlock: nothing that holds SQLite's write lock waits for the
    gate (only receivers, in autocommit, and moves, before they begin, take it)."""
    if connection.vendor != "sqlite" or connection.is_in_memory_db() or connection.in_atomic_block:  # type: ignore[attr-defined]
        yield
        return
    with _gate_held(connection):
        yield


def webhook_arrivals_waiting() -> bool:
    """Whether any arrival has not been moved into the inbox yet (one indexed read)."""
    return waiting_arrivals().exists()


def webhook_arrivals_move(*, limit: int = ARRIVAL_MOVE_BATCH) -> int:
    """Move up to ``limit`` arrivals into the inbox, oldest first, as ``received`` and due now;
    returns how many arrivals it took (an arrival whose key the inbox holds already, stored there
    by another path, is taken and adds nothing). One transaction: the inbox rows, the arrivals'
    payloads emptied, the mark advanced, or none of it (a worker killed mid-move leaves the
    arrivals to the next one). Ids ascend in commit order under SQLite's single writer, which is
    where arrivals are stored, so nothing below the mark can still appear."""
    if not webhook_arrivals_waiting():
        return 0
    connection = connections[router.db_for_write(WebhookArrival)]
    with _move_gate(connection), transaction.atomic(using=connection.alias):
        mark, _ = WebhookArrivalMark.objects.select_for_update().get_or_create(pk=1)
        ids = list(
            WebhookArrival.objects.filter(pk__gt=mark.moved_through)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        through = ids[-1]
        no_affected = cast("Field[Any, Any]", WebhookEvent._meta.get_field("affected"))
        with connection.cursor() as cursor:
            cursor.execute(
                _move_sql(connection),
                [
                    WebhookEvent.Status.RECEIVED.value,
                    no_affected.get_db_prep_save([], connection),
                    mark.moved_through,
                    through,
                ],
            )
        WebhookArrival.objects.filter(pk__gt=mark.moved_through, pk__lte=through).update(
            body="", headers={}
        )
        mark.moved_through = through
        mark.save(update_fields=["moved_through"])
    return len(ids)


_wake_lock = threading.Lock()
_last_wake = -1e9


def enqueue_webhook_event(event_pk: int, *, receipt: bool = False) -> None:
    """Wake a drain for the committed event. Coalesced per process: at most one wake per
    WEBHOOK_WAKE_WINDOW_SECONDS, because a drain runs every due event and keeps polling for
    WEBHOOK_DRAIN_LINGER_SECONDS after its queue empties, and a drain that ends waits one window
    and wakes a successor if work is due, so an event committed within the window is still picked
    up. A wake queues a task only if a drain place is free (``webhook_drain_wake``). A broker
    failure is logged, not raised: the stored row is the record of work and the sweeper picks it
    up (and the next delivery wakes again at once)."""
    global _last_wake
    window: float = settings.WEBHOOK_WAKE_WINDOW_SECONDS
    with _wake_lock:
        now = monotonic()
        if window and now - _last_wake < window:
            return
        _last_wake = now
    try:
        webhook_drain_wake()
    except Exception:  # boundary: the broker or the database failed; the row remains due
        with _wake_lock:
            _last_wake = -1e9
        log.exception(
            "webhook.enqueue_failed", **{"receipt" if receipt else "webhook_event": event_pk}
        )


def webhook_drain_places() -> int:
    """How many drains may be queued or running at once: WEBHOOK_DRAIN_CONCURRENCY, or half the
    task cluster's workers (at least one), so drains never hold every worker."""
    configured: int = settings.WEBHOOK_DRAIN_CONCURRENCY
    if configured > 0:
        return configured
    return max(1, int(settings.Q_CLUSTER.get("workers", 2)) // 2)


def webhook_drain_queue_grace_seconds() -> float:
    """How long a place stays held for a drain that was queued but has not started: a woken drain
    may wait that long behind other tasks, and while it waits its place must stay held, or every
    stored webhook would queue another drain. Past it, the task is presumed lost with the queue."""
    return float(settings.WEBHOOK_DRAIN_QUEUE_GRACE_SECONDS)


def webhook_drain_lease_seconds() -> float:
    """How long a running drain's place stays held without being renewed: a drain renews it as it
    works, so the place of a drain that was killed is free again this soon."""
    return float(settings.WEBHOOK_DRAIN_LEASE_SECONDS)


def webhook_drain_wake() -> bool:
    """Queue a drain task if one of the ``webhook_drain_places()`` places is free, holding the
    place for it; returns whether a task was queued. With every place held (by queued or running
    drains, which will see the due events) nothing is queued: one read, no write. A queued drain's
    place is free again after ``webhook_drain_queue_grace_seconds()`` if the drain never starts
    (a task lost with the queue), a running drain's once it stops renewing its lease
    (``webhook_drain_lease_seconds()``: the drain was killed). Raises if the broker refuses the
    task (the place is let go first)."""
    from django_q.tasks import async_task

    places = webhook_drain_places()
    now = timezone.now()
    held = _held_drain_places(places, now)
    for slot in (s for s in range(places) if s not in held):
        token = uuid.uuid4().hex
        if not webhook_drain_place_take(slot=slot, token=token, now=now):
            continue  # another process took it meanwhile
        try:
            async_task(
                DRAIN_TASK,
                slot=slot,
                token=token,
                task_name=f"webhook-drain-{slot}",
                group="webhooks",
                save=False,
            )
        except Exception:
            webhook_drain_place_release(slot=slot, token=token)
            raise
        return True
    return False


_HELD_PLACES_SQL: dict[str, str] = {}


def _held_drain_places(places: int, now: datetime) -> set[int]:
    """The places below ``places`` held at ``now`` (a holder set, its time not past):
    ``WebhookDrainSlot.objects.filter(slot__lt=places).exclude(token="")
    .filter(held_until__gte=now)``, as one statement built once per process and database. Every
    stored webhook may ask this (once per wake window per process), and building the query through
    the ORM cost about 0.4 ms of CPU each time, more than the statement itself."""
    connection = connections[router.db_for_read(WebhookDrainSlot)]
    sql = _HELD_PLACES_SQL.get(connection.alias)
    if sql is None:
        meta = WebhookDrainSlot._meta
        quote = connection.ops.quote_name
        slot, token, held_until = (
            quote(str(cast("Field[Any, Any]", meta.get_field(name)).column))
            for name in ("slot", "token", "held_until")
        )
        sql = _HELD_PLACES_SQL[connection.alias] = (
            f"SELECT {slot} FROM {quote(meta.db_table)} "  # noqa: S608  # nosec B608  # names from model metadata, quoted; values bound
            f"WHERE {slot} < %s AND NOT ({token} = %s) AND {held_until} >= %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [places, "", connection.ops.adapt_datetimefield_value(now)])
        return {int(row[0]) for row in cursor.fetchall()}


def webhook_drain_place_take(
    *, slot: int, token: str, now: datetime | None = None, hold_seconds: float | None = None
) -> bool:
    """Hold ``slot`` for ``token`` for ``hold_seconds`` (by default the queue grace, for a drain
    about to be queued) if it is free (never held, let go, or its holder presumed lost), or renew
    it if ``token`` already holds it. Returns whether ``token`` holds it now."""
    now = now or timezone.now()
    if hold_seconds is None:
        hold_seconds = webhook_drain_queue_grace_seconds()
    until = now + timedelta(seconds=hold_seconds)
    takeable = Q(token="") | Q(token=token) | Q(held_until__lt=now) | Q(held_until__isnull=True)
    if WebhookDrainSlot.objects.filter(takeable, slot=slot).update(token=token, held_until=until):
        return True
    try:
        with transaction.atomic():
            WebhookDrainSlot.objects.create(slot=slot, token=token, held_until=until)
    except IntegrityError:  # the place exists and is held
        return False
    return True


def webhook_drain_place_release(*, slot: int, token: str) -> None:
    """Let go of ``slot`` if ``token`` still holds it."""
    WebhookDrainSlot.objects.filter(slot=slot, token=token).update(token="", held_until=None)


@dataclass(frozen=True)
class RejectionResult:
    """What became of a refused delivery: ``sample`` is the row kept for it, if any; ``limited``
    says its source was past WEBHOOK_REJECTION_SOURCE_LIMIT, so it was only counted."""

    sample: WebhookRejection | None
    limited: bool


class _RejectionTally:
    """This process's refusal counts: per provider and source for the current minute (the
    per-source limit), and per provider and hour until added to WebhookRejectionCounter."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.minute = -1
        self.per_source: dict[tuple[str, str], int] = {}
        self.pending: dict[tuple[str, datetime], list[int]] = {}
        self.flushed_at = monotonic()


_tally = _RejectionTally()
# Sources tracked per minute per process; past it, new sources share one count.
MAX_TRACKED_SOURCES = 10_000
OTHER_SOURCES = "(other)"


def webhook_rejection_record(
    *,
    provider: str,
    reason: str,
    status_code: int,
    remote_addr: str | None,
    headers: Mapping[str, str],
    body: bytes,
) -> RejectionResult:
    """Count a refused delivery, and keep a bounded sample of refusals.

    Every refusal adds one to its provider's WebhookRejectionCounter for the hour (this process
    adds its counts at most every WEBHOOK_REJECTION_FLUSH_SECONDS, and with each sample kept).
    Past WEBHOOK_REJECTION_SOURCE_LIMIT refusals from one source (IPv4 address or IPv6 /64) for one
    provider within a minute, that is all: no database access, no log line (``limited``).
    Otherwise the refusal is kept as a WebhookRejection (headers capped by
    ``capped_rejection_headers``, the body's hash and size only) and logged, while the provider
    has kept fewer than WEBHOOK_REJECTION_SAMPLES_PER_HOUR this hour and the source address fewer
    than WEBHOOK_REJECTION_SAMPLES_PER_SOURCE. ``headers`` must already be scrubbed of secrets.
    A database error while counting is logged, not raised (the counts are kept for later)."""
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    provider = provider[:40]
    address = _valid_ip(remote_addr)
    source = _source_key(address)
    limit: int = settings.WEBHOOK_REJECTION_SOURCE_LIMIT
    with _tally.lock:
        minute = int(time.time() // 60)
        if minute != _tally.minute:
            _tally.minute, _tally.per_source = minute, {}
        key = (provider, source)
        if key not in _tally.per_source and len(_tally.per_source) >= MAX_TRACKED_SOURCES:
            key = (provider, OTHER_SOURCES)
        seen = _tally.per_source[key] = _tally.per_source.get(key, 0) + 1
        limited = seen > limit
        counts = _tally.pending.setdefault((provider, hour), [0, 0])
        counts[0] += 1
        counts[1] += limited
        flush_due = monotonic() - _tally.flushed_at >= settings.WEBHOOK_REJECTION_FLUSH_SECONDS
    if seen == limit + 1:
        log.warning("webhook.rejections_limited", provider=provider, source=key[1], limit=limit)
    sample = None
    if not limited:
        try:
            sample = _rejection_sample_keep(
                provider=provider,
                hour=hour,
                address=address,
                reason=reason,
                status_code=status_code,
                headers=headers,
                body=body,
            )
        except DatabaseError:  # a busy database must not turn a refusal into a 500
            log.warning("webhook.rejection_sample_unsaved", provider=provider, exc_info=True)
    if sample is None and flush_due:
        _rejection_counts_flush()
    return RejectionResult(sample=sample, limited=limited)


def capped_rejection_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """At most WEBHOOK_REJECTION_HEADER_COUNT headers, each name and value cut to
    WEBHOOK_REJECTION_HEADER_CHARS characters ("…" marks a cut value; a "…" entry says how many
    headers were left out)."""
    count: int = settings.WEBHOOK_REJECTION_HEADER_COUNT
    chars: int = settings.WEBHOOK_REJECTION_HEADER_CHARS
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if len(kept) >= count:
            break
        kept[name[:chars]] = value if len(value) <= chars else value[:chars] + "…"
    if len(headers) > len(kept):
        kept["…"] = f"{len(headers) - len(kept)} more header(s) not kept"
    return kept


def _rejection_sample_keep(
    *,
    provider: str,
    hour: datetime,
    address: str | None,
    reason: str,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
) -> WebhookRejection | None:
    """Keep this refusal as a sample if the hour's and the source's budgets allow; reads first,
    so a spent budget costs one indexed read and no write."""
    per_hour: int = settings.WEBHOOK_REJECTION_SAMPLES_PER_HOUR
    counter = WebhookRejectionCounter.objects.filter(provider=provider, hour=hour)
    kept = counter.values_list("sampled", flat=True).first()
    if kept is not None and kept >= per_hour:
        return None
    per_source: int = settings.WEBHOOK_REJECTION_SAMPLES_PER_SOURCE
    from_source = WebhookRejection.objects.filter(
        provider=provider, remote_addr=address, received_at__gte=hour
    )
    if from_source.count() >= per_source:
        return None
    if not _rejection_counts_flush():  # the hour's row now exists and counts this refusal
        return None
    digest = hashlib.sha256(body).hexdigest()
    with transaction.atomic():
        if not counter.filter(sampled__lt=per_hour).update(sampled=F("sampled") + 1):
            return None  # another worker took the last place meanwhile
        # Again inside the transaction, which the hour's row lock orders after any concurrent one.
        if from_source.count() >= per_source:
            transaction.set_rollback(True)
            return None
        rejection = WebhookRejection.objects.create(
            provider=provider,
            reason=reason[:200],
            status_code=status_code,
            remote_addr=address,
            headers=capped_rejection_headers(headers),
            body_sha256=digest,
            body_size=len(body),
        )
    log.warning(
        "webhook.rejected",
        provider=provider,
        reason=reason[:200],
        status_code=status_code,
        remote_addr=address,
        body_sha256=digest,
        body_size=len(body),
    )
    return rejection


def _rejection_counts_flush() -> bool:
    """Add this process's pending counts to WebhookRejectionCounter. On a database error the
    counts are put back for the next flush and False is returned."""
    with _tally.lock:
        pending, _tally.pending = _tally.pending, {}
        _tally.flushed_at = monotonic()
    try:
        for (provider, hour), (rejected, limited) in list(pending.items()):
            _rejection_counter_add(provider=provider, hour=hour, rejected=rejected, limited=limited)
            del pending[(provider, hour)]
    except DatabaseError:
        with _tally.lock:
            for key, (rejected, limited) in pending.items():
                counts = _tally.pending.setdefault(key, [0, 0])
                counts[0] += rejected
                counts[1] += limited
        log.warning("webhook.rejection_counts_unsaved", exc_info=True)
        return False
    return True


def _rejection_counter_add(*, provider: str, hour: datetime, rejected: int, limited: int) -> None:
    def add() -> int:
        return WebhookRejectionCounter.objects.filter(provider=provider, hour=hour).update(
            rejected=F("rejected") + rejected,
            limited=F("limited") + limited,
            updated_at=timezone.now(),
        )

    if add():
        return
    try:
        with transaction.atomic():
            WebhookRejectionCounter.objects.create(
                provider=provider, hour=hour, rejected=rejected, limited=limited
            )
    except IntegrityError:  # another process created the hour's row meanwhile
        add()


def _source_key(address: str | None) -> str:
    """One source per IPv4 address, per IPv6 /64 (what one client usually holds)."""
    if address is None:
        return "unknown"
    parsed = ip_address(address)
    if parsed.version == 6:
        return str(ip_network(f"{parsed}/64", strict=False))
    return address


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ip_address(value))
    except ValueError:
        return None
