"""The scaled profile survives a PostgreSQL restart: no request fails on a stale pooled connection.

A restart ends every server-side session; the pool still holds their client ends. Terminating
every backend of the test database from a separate connection does exactly that to the pool,
without stopping the server the rest of the suite runs on (bench/chaos.py restarts it for real).
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, connections

from tests.config.test_scaled_profile import needs_postgres


def _terminate_every_other_backend() -> int:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_no_request_fails_on_a_connection_the_server_dropped(client) -> None:
    pool = getattr(connection, "pool", None)
    assert pool is not None
    for _ in range(3):
        assert client.get("/health/").json()["database"]["ok"] is True
    connections.close_all()  # back to the pool, as at the end of every request
    assert pool.get_stats()["pool_available"] >= 1

    assert _terminate_every_other_backend() >= 1

    answers = [client.get("/health/") for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert all(a.json()["database"]["ok"] for a in answers)
