"""Profile selection, and proof that the scaled profile reaches real PostgreSQL and Redis servers.

The selection tests run on every profile. The scaled-profile tests run only when the environment
points at real services (``.ci/run`` starts PostgreSQL and Redis and exports ``DATABASE_URL`` and
``REDIS_URL`` for its second ``make test``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import environ
import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.db import connection

from config.settings.profile import database_from_env, profile_name
from config.settings.tasks import q_cluster_from_env

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}

needs_postgres = pytest.mark.skipif(
    urlsplit(DATABASE_URL).scheme not in POSTGRES_SCHEMES,
    reason="DATABASE_URL does not point at PostgreSQL (embedded profile)",
)
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set (embedded profile)")

PROFILE_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "DATABASE_POOL_MIN",
    "DATABASE_POOL_MAX",
    "DATABASE_POOL_TIMEOUT",
    "Q_WORKERS",
)


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> environ.Env:
    """An ``environ.Env`` over an ``os.environ`` with none of the profile variables set."""
    for name in PROFILE_VARS:
        monkeypatch.delenv(name, raising=False)
    return environ.Env()


# --- profile selection (every profile) --------------------------------------------------------


def test_no_env_selects_embedded_sqlite_and_orm_broker(bare_env: environ.Env, tmp_path: Path):
    db = database_from_env(bare_env, tmp_path / "var" / "switchboard.sqlite3")

    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "var" / "switchboard.sqlite3")
    assert (tmp_path / "var").is_dir()
    assert db["CONN_MAX_AGE"] is None
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "PRAGMA journal_mode=WAL;" in db["OPTIONS"]["init_command"]
    assert "PRAGMA foreign_keys=ON;" in db["OPTIONS"]["init_command"]
    assert "pool" not in db["OPTIONS"]

    cluster = q_cluster_from_env(bare_env)
    assert cluster["orm"] == "default"
    assert "redis" not in cluster
    assert profile_name(bare_env) == "embedded"


def test_postgres_url_selects_pooled_postgresql(
    bare_env: environ.Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("DATABASE_URL", "postgres://sb:secret@db.example.test:6543/switchboard")

    db = database_from_env(bare_env, tmp_path / "unused.sqlite3")

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"]) == ("switchboard", "sb", "secret")
    assert (db["HOST"], int(db["PORT"])) == ("db.example.test", 6543)
    # psycopg's pool replaces persistent connections, which Django requires to be off.
    assert db["CONN_MAX_AGE"] == 0
    assert db["OPTIONS"]["pool"] == {"min_size": 2, "max_size": 10, "timeout": 10}
    # Django then checks each connection as it leaves the pool (see test_scaled_faults).
    assert db["CONN_HEALTH_CHECKS"] is True
    assert not (tmp_path / "unused.sqlite3").exists()
    assert profile_name(bare_env) == "scaled"
    # The database alone does not move the task broker off the ORM.
    assert "orm" in q_cluster_from_env(bare_env)


def test_pool_size_comes_from_env(bare_env: environ.Env, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://sb@127.0.0.1:5432/switchboard")
    monkeypatch.setenv("DATABASE_POOL_MIN", "1")
    monkeypatch.setenv("DATABASE_POOL_MAX", "4")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "3")

    db = database_from_env(bare_env, Path("unused.sqlite3"))

    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 3}


def test_sqlite_url_keeps_the_tuned_sqlite_settings(
    bare_env: environ.Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    path = tmp_path / "elsewhere" / "db.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")

    db = database_from_env(bare_env, tmp_path / "default.sqlite3")

    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(path)
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "PRAGMA journal_mode=WAL;" in db["OPTIONS"]["init_command"]


def test_redis_url_selects_redis_broker(
    bare_env: environ.Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("REDIS_URL", "redis://cache.example.test:6380/2")

    cluster = q_cluster_from_env(bare_env)

    assert cluster["redis"] == "redis://cache.example.test:6380/2"
    assert "orm" not in cluster
    assert "poll" not in cluster
    assert profile_name(bare_env) == "scaled"
    # Redis alone leaves the database on SQLite.
    db = database_from_env(bare_env, tmp_path / "switchboard.sqlite3")
    assert db["ENGINE"] == "django.db.backends.sqlite3"


# --- the scaled profile against real servers --------------------------------------------------


@needs_postgres
@pytest.mark.django_db
def test_database_url_runs_the_suite_on_pooled_postgresql():
    default = settings.DATABASES["default"]
    assert default["ENGINE"] == "django.db.backends.postgresql"
    assert default["CONN_MAX_AGE"] == 0
    assert {"min_size", "max_size", "timeout"} <= set(default["OPTIONS"]["pool"])

    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_setting('server_version_num')")
        database, version = cursor.fetchone()
    assert database == connection.settings_dict["NAME"]
    assert int(version) >= 140000
    # Django opens connections from psycopg's pool (the attribute is missing from the stubs).
    assert getattr(connection, "pool", None) is not None


@needs_redis
def test_redis_url_configures_cluster_and_broker_round_trip():
    from django_q.brokers import get_broker
    from django_q.brokers.redis_broker import Redis
    from django_q.signing import SignedPackage

    assert settings.Q_CLUSTER["redis"] == REDIS_URL
    assert "orm" not in settings.Q_CLUSTER

    broker = get_broker(list_key=f"switchboard-test-{uuid.uuid4().hex}")
    assert isinstance(broker, Redis)
    assert broker.ping()
    payload = {"id": uuid.uuid4().hex, "func": "math.floor", "args": (2.5,)}
    try:
        broker.purge_queue()
        broker.enqueue(SignedPackage.dumps(payload))
        assert broker.queue_size() == 1

        tasks = broker.dequeue()
        assert tasks is not None
        assert len(tasks) == 1
        task_id, message = tasks[0]
        broker.acknowledge(task_id)

        assert SignedPackage.loads(message) == payload
        assert broker.queue_size() == 0
    finally:
        broker.delete_queue()


@needs_redis
def test_redis_url_configures_the_django_cache():
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    key = f"switchboard-test-{uuid.uuid4().hex}"
    value = {"order": 42, "status": "paid"}
    try:
        cache.set(key, value, timeout=60)
        assert cache.get(key) == value
        # The entry really lives on the server REDIS_URL names.
        server = redis.Redis.from_url(REDIS_URL)
        try:
            assert server.exists(cache.make_and_validate_key(key)) == 1
        finally:
            server.close()
    finally:
        cache.delete(key)
    assert cache.get(key) is None
