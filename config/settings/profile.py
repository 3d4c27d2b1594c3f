"""Chooses the deployment profile from the environment.

With neither ``DATABASE_URL`` nor ``REDIS_URL`` set, Switchboard runs on the *embedded* profile:
SQLite in WAL mode with persistent connections and django-q2's ORM broker. ``DATABASE_URL`` and
``REDIS_URL`` move it to the *scaled* profile (PostgreSQL with psycopg's pool, the Redis broker).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ

SQLITE_BUSY_TIMEOUT_SECONDS = 20


def sqlite_database(path: Path) -> dict[str, Any]:
    """SQLite tuned to serve a web server and task workers at once."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            # Writers take the lock at BEGIN, so two writers queue instead of deadlocking.
            "transaction_mode": "IMMEDIATE",
            "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;"
                "PRAGMA temp_store=MEMORY;"
                "PRAGMA mmap_size=134217728;"
                "PRAGMA journal_size_limit=67108864;"
                "PRAGMA cache_size=-20000;"
            ),
        },
    }


def database_from_env(env: environ.Env, default_sqlite_path: Path) -> dict[str, Any]:
    """The default database: ``DATABASE_URL`` when set, else the embedded SQLite file."""
    url = env.str("DATABASE_URL", default="")
    if not url:
        return sqlite_database(default_sqlite_path)
    config: dict[str, Any] = env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        return sqlite_database(Path(config["NAME"]))
    if config["ENGINE"] == "django.db.backends.postgresql":
        # psycopg 3's pool replaces persistent connections (CONN_MAX_AGE must then be 0).
        config["CONN_MAX_AGE"] = 0
        # With a pool, Django hands this to psycopg_pool as its ``check``: each connection is
        # checked (a trivial round trip) as it leaves the pool, so after a database restart a
        # stale pooled connection is replaced instead of failing a request.
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=10),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=10),
        }
    return config


def profile_name(env: environ.Env) -> str:
    return "scaled" if env.str("DATABASE_URL", "") or env.str("REDIS_URL", "") else "embedded"
