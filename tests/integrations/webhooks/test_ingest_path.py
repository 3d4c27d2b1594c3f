"""The receiving path kept short (issue 16 item 8): inbox inserts of several processes queue on a
file lock instead of SQLite's busy sleeps, the insert statement is built once, and SQLite's
write-ahead log is checkpointed after the answer."""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from integrations.models import WebhookEvent
from integrations.webhooks import inbox
from integrations.webhooks.registry import MalformedWebhook, _plainly_storable, load_json
from integrations.webhooks.views import webhook_receive
from tests.integrations.webhooks.live import SANDBOX_URL, gunicorn, scratch_env
from tests.integrations.webhooks.support import PROVIDER, URL, awaiting, signed, stored_keys


def _sqlite_default() -> Any:
    connection = connections["default"]
    if connection.vendor != "sqlite":
        pytest.skip("direct binding is SQLite's; PostgreSQL binds through the model fields")
    return connection


def _post(body: bytes, headers: dict[str, str]) -> Any:
    return RequestFactory().post(URL, data=body, content_type="application/json", headers=headers)


# --- the wake ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_drain_wake_runs_before_the_answer_once_the_row_is_committed(handlers, broker_idle):
    """Autocommit, as under gunicorn: the row is committed and the drain woken before the view
    returns its 200 (in the tasks' sync mode the sender then sees its event processed); close()
    queues nothing more. (Waking after the answer was tried for ingest speed and undone: it let
    a sender's next delivery be processed before the previous one in sync mode.)"""
    inbox._last_wake = -1e9
    body, headers = signed("customer.linked", {"id": "cus_after"})

    response = webhook_receive(_post(body, headers), provider=PROVIDER)

    assert response.status_code == 200
    assert stored_keys(event_id=headers["webhook-id"]) == [headers["webhook-id"]]  # committed
    assert broker_idle == [(inbox.DRAIN_TASK,)]
    response.close()
    assert broker_idle == [(inbox.DRAIN_TASK,)]


@pytest.mark.django_db(transaction=True)
def test_a_failed_wake_is_logged_and_the_next_delivery_wakes_again(
    handlers, broker_down, settings, caplog
):
    settings.WEBHOOK_WAKE_WINDOW_SECONDS = 30
    inbox._last_wake = -1e9
    first_body, first = signed("customer.linked", {"id": "cus_f1"})
    response = webhook_receive(_post(first_body, first), provider=PROVIDER)  # the broker refuses

    assert response.status_code == 200
    assert "webhook.enqueue_failed" in caplog.text
    assert inbox._last_wake == -1e9  # the window is open again: the next delivery wakes at once
    assert awaiting(first["webhook-id"])


# --- the SQLite write gate --------------------------------------------------------------------


def _file_connection(path: Path) -> DatabaseWrapper:
    settings_dict = {**connections["default"].settings_dict, "NAME": str(path)}
    settings_dict["OPTIONS"] = {}
    return DatabaseWrapper(settings_dict, alias=f"gate-{path.name}")


def test_the_gate_orders_writers_of_one_sqlite_file(tmp_path, db):
    connection = _file_connection(tmp_path / "gate.sqlite3")
    try:
        holder = os.open(f"{tmp_path / 'gate.sqlite3'}-inbox-gate", os.O_RDWR | os.O_CREAT)
        fcntl.flock(holder, fcntl.LOCK_EX)  # another process's writer, inside the gate
        entered = threading.Event()

        def write() -> None:
            with inbox.sqlite_write_gate(connection):
                entered.set()

        # Django connections belong to their thread: the waiting writer is this thread, the
        # releasing "other process" a timer.
        releaser = threading.Timer(0.5, fcntl.flock, (holder, fcntl.LOCK_UN))
        started = time.monotonic()
        releaser.start()
        write()
        waited = time.monotonic() - started
        releaser.join()
        os.close(holder)
    finally:
        connection.close()
    assert entered.is_set()
    assert 0.4 <= waited < 5  # it waited for the holder, and went in as soon as it let go


def test_the_gate_lets_in_memory_databases_and_open_transactions_through(tmp_path, db):
    memory = _file_connection(Path(":memory:"))
    with inbox.sqlite_write_gate(memory):
        pass
    memory.close()
    assert ":memory:" not in inbox._gate_files  # no lock file for an in-memory database
    connection = _file_connection(tmp_path / "busy.sqlite3")
    holder = os.open(f"{tmp_path / 'busy.sqlite3'}-inbox-gate", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        # Inside a transaction this process may already hold SQLite's write lock: waiting on the
        # gate then could deadlock with a gate holder waiting on SQLite, so it passes through.
        with _atomic(connection):
            started = time.monotonic()
            with inbox.sqlite_write_gate(connection):
                pass
            assert time.monotonic() - started < 0.4
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        connection.close()


class _atomic:
    """An open transaction on a connection that is not in ``connections``."""

    def __init__(self, connection: DatabaseWrapper) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.set_autocommit(False)

    def __exit__(self, *exc: object) -> None:
        self.connection.rollback()
        self.connection.set_autocommit(True)


# --- under a real server ----------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_deliveries_to_four_sync_workers_are_each_stored_once(tmp_path):
    """Four gunicorn processes on one SQLite file, eight clients at once: every distinct delivery
    answers 200 and is stored once, a repeat answers duplicate, and the inbox inserts went through
    the gate beside the database file."""
    env = scratch_env(tmp_path)
    db_file = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    deliveries = [signed("test.gate", {"id": f"obj_{i}"}) for i in range(160)]

    def send(port: int, delivery: tuple[bytes, dict[str, str]]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body, headers = delivery
        conn.request("POST", SANDBOX_URL, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()

    with gunicorn(env, ["--worker-class", "sync", "--workers", "4"]) as port:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda d: send(port, d), deliveries))
        repeat = send(port, deliveries[0])

    assert [status for status, _ in answers] == [200] * len(deliveries), answers[:3]
    assert all(b'"stored"' in answer for _, answer in answers)
    assert repeat[0] == 200 and b'"duplicate"' in repeat[1]
    with sqlite3.connect(db_file) as stored:
        # Stored by the receiver as arrivals; none is moved here (no task cluster runs).
        ids = [
            row[0]
            for row in stored.execute(
                "SELECT event_id FROM integrations_webhookarrival WHERE event_type = 'test.gate'"
            )
        ]
        in_inbox = stored.execute("SELECT COUNT(*) FROM integrations_webhookevent").fetchone()[0]
    assert sorted(ids) == sorted(headers["webhook-id"] for _, headers in deliveries)
    assert in_inbox == 0
    assert Path(f"{db_file}-inbox-gate").exists()


# --- binding and parsing without the generic machinery ----------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 1, 14, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 12, 1, 14, 0, 0, tzinfo=UTC),  # no microseconds: str() drops them
        datetime(2026, 12, 1, 11, 30, 5, 7, tzinfo=timezone(timedelta(hours=-3))),
        None,
    ],
)
def test_times_bound_directly_on_sqlite_are_what_the_orm_binds(db, value):
    connection = _sqlite_default()
    plan = inbox._insert_plan(connection)
    assert plan.direct  # the test database is SQLite with USE_TZ
    field = WebhookEvent._meta.get_field("received_at")
    assert plan.bind_time(value, connection) == field.get_db_prep_save(value, connection)


def test_json_bound_directly_on_sqlite_is_what_the_orm_binds(db):
    connection = _sqlite_default()
    plan = inbox._insert_plan(connection)
    headers = {"content-type": "application/json", "user-agent": "Svix/1 ção"}
    field = WebhookEvent._meta.get_field("headers")
    assert plan.bind_json(headers, connection) == field.get_db_prep_save(headers, connection)
    assert plan.no_affected == "[]"


@pytest.mark.parametrize(
    ("body", "plain"),
    [
        (b'{"type":"a.b","data":{"id":"x","n":[1,2]}}', True),
        (b'{"type":"a.b","data":{"id":"\\u0000"}}', False),  # an escape: walked, and refused
        (b'{"type":"a.b","data":{"id":"\\ud800"}}', False),
        ('{"type":"a.b","data":{"name":"Jo\u00e3o"}}'.encode(), False),  # not ASCII: walked
        (b"[" * 65 + b"]" * 65, False),  # deeper than allowed: walked, and refused
    ],
)
def test_only_plainly_storable_bodies_skip_the_tree_walk(body, plain):
    assert _plainly_storable(body) is plain


@pytest.mark.parametrize(
    "body",
    [b'{"id":"\\u0000"}', b'{"id":"\\ud800"}', b'{"\\u0000":1}', b"[" * 65 + b"]" * 65],
)
def test_bodies_that_are_not_plain_are_still_refused(body):
    with pytest.raises(MalformedWebhook):
        load_json(body)


# --- the WAL checkpoint, after the answer ---------------------------------------------------


def _wal_frames(database: str) -> tuple[int, int]:
    """(frames in the write-ahead log, frames of it already copied into the database), read from
    SQLite's shared-memory index beside the file (``mxFrame`` of the index header and
    ``nBackfill`` of the checkpoint information; see SQLite's wal.c), without taking a lock."""
    header = Path(f"{database}-shm").read_bytes()[:100]
    return int.from_bytes(header[16:20], "little"), int.from_bytes(header[96:100], "little")


@pytest.fixture
def sqlite_file_counts(transactional_db: None) -> str:
    """The test database's file, its inbox store count at 0 and no checkpoint due; skips unless
    the database is a SQLite file (the write-ahead log and the gate exist only there)."""
    connection = connections["default"]
    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # type: ignore[attr-defined]
        pytest.skip("the write-ahead log of a SQLite file")
    database = str(connection.settings_dict["NAME"])
    inbox._STORE_COUNT.pack_into(inbox._gate_file(database).shared, 0, 0)
    inbox._checkpoint_due.clear()
    return database


def test_the_log_is_checkpointed_after_the_answer_never_inside_the_insert(
    handlers, broker_idle, settings, sqlite_file_counts
):
    """The inbox's inserts leave the write-ahead log to grow (SQLite would otherwise copy it back
    inside a commit, while the write gate holds every other worker's delivery); every
    WEBHOOK_SQLITE_CHECKPOINT_EVERY stored events, the answer's close() copies it back."""
    connection = connections["default"]
    settings.WEBHOOK_SQLITE_CHECKPOINT_EVERY = 3
    database = sqlite_file_counts

    def deliver(n: int) -> Any:
        body, headers = signed("customer.linked", {"id": f"cus_ckpt_{n}"})
        response = webhook_receive(_post(body, headers), provider=PROVIDER)
        assert response.status_code == 200
        return response

    for n in range(2):
        deliver(n).close()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == inbox.SQLITE_CHECKPOINT_BACKSTOP_PAGES
    frames, copied = _wal_frames(database)
    assert copied < frames  # two stored events, not checkpointed yet

    third = deliver(2)
    frames, copied = _wal_frames(database)
    assert copied < frames  # the commit itself did not checkpoint: the answer is not closed yet
    third.close()
    frames, copied = _wal_frames(database)
    assert copied == frames  # close() copied the whole log back
    assert inbox._checkpoint_due == set()
    assert len(stored_keys(event_id__startswith="msg_")) >= 3


@pytest.mark.django_db(transaction=True)
def test_the_insert_is_in_the_query_log_whenever_one_is_kept(handlers, broker_idle):
    """On SQLite the insert runs on SQLite's own cursor inside the gate; with a query log kept
    (DEBUG, a test capturing queries) it goes through Django's cursor and is logged, once."""
    body, headers = signed("customer.linked", {"id": "cus_logged"})
    with CaptureQueriesContext(connections["default"]) as queries:
        response = webhook_receive(_post(body, headers), provider=PROVIDER)
    response.close()
    assert response.status_code == 200
    # Autocommit on a SQLite file: the receiver stores an arrival; elsewhere the inbox row.
    gated = connections["default"].vendor == "sqlite"
    table = 'INSERT INTO "integrations_webhook{}" '.format("arrival" if gated else "event")
    inserts = [q["sql"] for q in queries if q["sql"].startswith(table)]
    assert len(inserts) == 1
    again = webhook_receive(_post(body, headers), provider=PROVIDER)  # unlogged path: duplicate
    assert (again.status_code, json.loads(again.content)["status"]) == (200, "duplicate")
    assert stored_keys(event_id=headers["webhook-id"]) == [headers["webhook-id"]]


def _count_stores(times: int) -> int:
    """Count ``times`` stores through the gate as ``webhook_event_store`` does (without the
    insert); returns how many made a checkpoint fall due, each marked due and then run."""
    due = 0
    for _ in range(times):
        with inbox.sqlite_write_gate(connections["default"]) as gate:
            assert gate is not None
            falls_due = gate.count_store()
        if falls_due:
            due += 1
            inbox._sqlite_checkpoint_mark_due("default")
        inbox.webhook_sqlite_checkpoint_run()
    return due


def test_threads_of_one_process_share_the_checkpoint_counts_safely(settings, sqlite_file_counts):
    """gthread workers: stores of several threads count together, and two threads closing their
    answers at once never both take the same due checkpoint (nor fail on an emptied set)."""
    settings.WEBHOOK_SQLITE_CHECKPOINT_EVERY = 5

    def store_and_close() -> int:
        try:
            return _count_stores(50)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        dues = [future.result() for future in [pool.submit(store_and_close) for _ in range(8)]]
    assert inbox._gate_file(sqlite_file_counts).stored() == 400
    assert sum(dues) == 80  # 400 counted, in fives: each due once, by one thread
    assert inbox._checkpoint_due == set()


def test_worker_processes_count_toward_one_checkpoint_cadence(settings, sqlite_file_counts):
    """The count lives in the gate file, not in each process: with four gunicorn workers the log
    is checkpointed every WEBHOOK_SQLITE_CHECKPOINT_EVERY stored events, not four times as often.
    A forked child (its own descriptor and mapping, as a worker opens them) and this process count
    stores in turn; the checkpoint falls due on every third store whichever process made it."""
    settings.WEBHOOK_SQLITE_CHECKPOINT_EVERY = 3
    database = sqlite_file_counts
    inbox._gate_file(database)  # opened here first: the child must not reuse this mapping
    for round_ in range(2):
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # the child touches no database connection, only the gate file
            try:
                os.close(read)
                gate = inbox._gate_file(database)
                opened_own = gate.pid == os.getpid()
                falls_due = []
                for _ in range(2):
                    fcntl.flock(gate.descriptor, fcntl.LOCK_EX)
                    try:
                        falls_due.append(gate.count_store())
                    finally:
                        fcntl.flock(gate.descriptor, fcntl.LOCK_UN)
                os.write(write, json.dumps([opened_own, falls_due]).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as reader:
            opened_own, child_due = json.loads(reader.read())
        os.waitpid(child, 0)
        assert opened_own
        mine = _count_stores(1)
        # round 0: the child's stores are 1 and 2, this one 3; round 1: 4 and 5, then 6
        assert (child_due, mine) == ([False, False], 1), round_
    assert inbox._gate_file(database).stored() == 6
