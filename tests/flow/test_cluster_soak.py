"""A soak of the real task cluster with workers recycled every few tasks: 0 errors.

django-q2 replaces a worker (``Q_RECYCLE``) by forking a new one from the sentinel, which has just
used the database for its scheduler. With psycopg's pool that handed the pool's sockets to every
new worker: tasks read other processes' rows or hung. Each task here asks the database for its own
number and fails on any other answer; every task must succeed, and the cluster must log no error.
Runs on the embedded profile always, and on PostgreSQL + Redis when the environment points at them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.config.test_scaled_profile import DATABASE_URL, REDIS_URL, needs_postgres, needs_redis
from tests.support.processes import ROOT, manage, stop

# Each task runs 20 queries ~0.5 s in all, so the soak outlasts the sentinel's first scheduler run
# (30 s in): the forks after it are the ones that inherited an open pool.
TASKS = 140
SETTLE_SECONDS = 180
COUNT = """
from django_q.models import Failure, Success
print(Success.objects.filter(func="tests.support.soak_tasks.echo").count(),
      Failure.objects.filter(func="tests.support.soak_tasks.echo").count())
"""
ENQUEUE = f"""
from django_q.tasks import async_task
for n in range({TASKS}):
    async_task("tests.support.soak_tasks.echo", n, 20, 0.02, task_name=f"soak-{{n}}")
"""
WRONG_RESULTS = """
from django_q.models import Success
print(sum(1 for t in Success.objects.filter(func="tests.support.soak_tasks.echo")
          if t.result != t.args[0]))
"""


def _soak(env: dict[str, str], log_path: Path) -> None:
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "PYTHONUNBUFFERED": "1",
        "Q_WORKERS": "2",
        "Q_RECYCLE": "3",  # a fresh fork every 3 tasks: ~45 forks in this run
        "LOG_LEVEL": "INFO",
    }
    manage(env, "migrate", "--no-input")
    manage(env, "shell", "-c", ENQUEUE)
    with log_path.open("w") as log:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SETTLE_SECONDS
            done = failed = 0
            while time.monotonic() < deadline:
                done, failed = map(int, manage(env, "shell", "-c", COUNT).split()[-2:])
                if done + failed >= TASKS:
                    break
                assert cluster.poll() is None, log_path.read_text()[-3000:]
                time.sleep(1)
        finally:
            stop(cluster)
    output = log_path.read_text()
    assert (done, failed) == (TASKS, 0), output[-3000:]
    assert int(manage(env, "shell", "-c", WRONG_RESULTS).split()[-1]) == 0
    assert "Traceback" not in output, output[-3000:]
    assert "ERROR" not in output, output[-3000:]


@pytest.mark.slow
def test_recycled_workers_on_sqlite_get_only_their_own_rows(tmp_path: Path) -> None:
    _soak(
        {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'soak.sqlite3'}", "REDIS_URL": ""},
        tmp_path / "cluster.log",
    )


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A database of its own on the server DATABASE_URL names, dropped afterwards."""
    name = f"soak_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(DATABASE_URL)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@needs_postgres
@needs_redis
@pytest.mark.slow
def test_recycled_workers_on_pooled_postgresql_and_redis_get_only_their_own_rows(
    tmp_path: Path, scratch_postgres: str
) -> None:
    # A Redis database of its own, so the soak's queue is nobody else's.
    redis_url = urlunsplit(urlsplit(REDIS_URL)._replace(path="/13"))
    _soak(
        {**os.environ, "DATABASE_URL": scratch_postgres, "REDIS_URL": redis_url},
        tmp_path / "cluster.log",
    )
