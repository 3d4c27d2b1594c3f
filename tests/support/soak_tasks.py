"""Tasks the soak tests enqueue onto a real task cluster (importable by its workers)."""

from __future__ import annotations

import time

from django.db import connection, connections


def echo(n: int, queries: int = 1, pause: float = 0.0) -> int:
    """Ask the database ``queries`` times for a number only this call uses and insist on getting
    it back: a connection shared across a fork answers another process's query, or hangs. Each
    query takes a connection afresh (as requests and tasks do), ``pause`` seconds apart."""
    for i in range(queries):
        expected = n * 1000 + i
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s", [expected])
            (got,) = cursor.fetchone()
        connections.close_all()
        if int(got) != expected:
            raise AssertionError(f"asked the database for {expected}, got {got}")
        time.sleep(pause)
    return n
