"""Planner statistics after a deploy's ``migrate``.

PostgreSQL's autovacuum analyzes tables by itself. SQLite keeps statistics only when told: an
index a migration just added has none, and without them SQLite's planner may prefer it to the
index a changelist's filter and ordering were built for (seen at a million shipments: the
status filter took 2 s through the new alerts index and a sort, 0.3 s through its own). So
``migrate`` ends with a bounded ``ANALYZE`` on SQLite (``analysis_limit``: a sample per index,
a second or so even on millions of rows)."""

from __future__ import annotations

from typing import Any

from django.db import connections

ANALYSIS_LIMIT = 1000


def analyze_after_migrate(*, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """``post_migrate`` receiver: refresh SQLite's statistics when migrations were applied."""
    connection = connections[using]
    if connection.vendor != "sqlite" or not plan:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        try:
            cursor.execute("ANALYZE")
        finally:  # the limit is the connection's: later ANALYZEs on it read everything again
            cursor.execute("PRAGMA analysis_limit=0")
