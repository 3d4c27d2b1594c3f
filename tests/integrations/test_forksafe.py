"""No database connection crosses a fork (integrations.forksafe).

The reproduction from the field: one query, ``connections.close_all()`` (what django-q2 does before
it forks a worker), ``os.fork()``, then 300 queries in each process. With psycopg's pool and no
fork hooks the child read the parent's answers and the parent hung; now each process gets only
its own rows. On SQLite the same test runs and must hold as well.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest
from django.db import connection, connections

from integrations import forksafe

QUERIES = 300
TIMEOUT_SECONDS = 60


class Hung(Exception):
    pass


@pytest.fixture
def alarm() -> Iterator[None]:
    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"no answer within {TIMEOUT_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIMEOUT_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _own_rows(tag: int) -> dict[str, int]:
    """Run QUERIES queries, each returning a value only this process asked for."""
    wrong = errors = 0
    for i in range(QUERIES):
        expected = tag * 1000 + i
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT %s", [expected])
                (got,) = cursor.fetchone()
            if int(got) != expected:
                wrong += 1
        except Exception:  # counted: any error in either process fails the test
            errors += 1
        finally:
            connections.close_all()  # like the end of a request or a task
    return {"wrong": wrong, "errors": errors}


def _fork_and_query() -> tuple[dict[str, int], dict[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connections.close_all()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running any test machinery
        code = 0
        try:
            os.close(read_end)
            result = _own_rows(tag=2)
            os.write(write_end, json.dumps(result).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    parent = _own_rows(tag=1)
    with os.fdopen(read_end, "rb") as pipe:
        child_report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return parent, json.loads(child_report)


@pytest.mark.django_db(transaction=True)
def test_each_process_gets_only_its_own_rows_after_a_fork(alarm: None) -> None:
    parent, child = _fork_and_query()

    assert parent == {"wrong": 0, "errors": 0}
    assert child == {"wrong": 0, "errors": 0}


@pytest.mark.django_db(transaction=True)
def test_the_parent_keeps_working_after_forking_inside_a_transaction(alarm: None) -> None:
    """A connection inside an open transaction cannot be closed before the fork: the child
    detaches it without a word to the server, and the parent's transaction goes on."""
    from django.db import transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pid = os.fork()
        if pid == 0:
            os._exit(0 if connection.connection is None else 3)
        _, status = os.waitpid(pid, 0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 41 + 1")
            assert cursor.fetchone()[0] == 42
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_hooks_are_installed_once_per_process() -> None:
    assert forksafe._installed
    forksafe.install_fork_hooks()  # idempotent
    assert forksafe._installed
