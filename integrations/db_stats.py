"""Planner statistics after a deploy's ``migrate``.

PostgreSQL's autovacuum analyzes tables by itself. SQLite keeps statistics only when told: an
index a migration just added has none, and without them SQLite's planner may prefer it to the
index a changelist's filter and ordering were built for (seen at a million shipments: the
status filter took 2 s through the new alerts index and a sort, 30 ms through its own). So
``migrate`` ends by analyzing, in full, each table that has an index without statistics: the
tables a migration gave a new index (and, once, tables never analyzed). A sampled ANALYZE
(``analysis_limit``) is not used: its estimates were off by 5x at a million payments and sent
the payments list to a 3 s plan."""

from __future__ import annotations

from typing import Any

from django.db import connections


def tables_to_analyze(cursor: Any) -> list[str]:
    """Tables with an index that has no row in ``sqlite_stat1`` (all, before any ANALYZE)."""
    cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    analyzed: set[str] = set()
    if cursor.fetchone():
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL")
        analyzed = {row[0] for row in cursor.fetchall()}
    cursor.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
        "AND tbl_name NOT LIKE 'sqlite_%'"
    )
    return sorted({table for index, table in cursor.fetchall() if index not in analyzed})


def analyze_after_migrate(*, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """``post_migrate`` receiver: analyze the tables whose indexes lack statistics (SQLite)."""
    connection = connections[using]
    if connection.vendor != "sqlite" or not plan:
        return
    with connection.cursor() as cursor:
        for table in tables_to_analyze(cursor):
            cursor.execute(f'ANALYZE "{table}"')
