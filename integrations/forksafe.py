"""No database connection crosses a fork.

django-q2 forks its workers from the sentinel (at start and whenever it recycles or reincarnates
one) after ``connections.close_all()``. Without a pool that really closes them; with psycopg's pool
it only hands them back to the pool, and the pool (its open sockets, its worker threads' state)
is copied into the child. Parent and child then talk over the same sockets: one process reads
the other's rows, or waits forever for an answer the other consumed.

``install_fork_hooks`` registers two ``os.register_at_fork`` hooks for every fork in the process
(django-q2, multiprocessing, a plain ``os.fork``):

* before the fork, in the parent: this thread's connections that are not inside a transaction are
  closed, and every pool is closed (its connections terminated) and forgotten; the next query
  opens a fresh pool;
* after the fork, in the child: whatever could not be closed (a connection inside an open
  transaction, a pool opened meanwhile by another thread) is detached, never used and never
  finalised, because finalising a psycopg connection sends the server a Terminate message on the
  parent's socket. The child opens its own connections on first use.

``subprocess`` (fork + exec) runs no at-fork hooks and needs none: exec drops the copies.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import structlog
from django.db import connections

log = structlog.get_logger(__name__)

# What a child inherited and must neither use nor let the garbage collector finalise.
_inherited: list[Any] = []
_installed = False
_install_lock = threading.Lock()


def _pools() -> dict[str, Any]:
    try:
        from django.db.backends.postgresql.base import DatabaseWrapper
    except ImportError:  # psycopg not installed: no pools to worry about
        return {}
    pools: dict[str, Any] = getattr(DatabaseWrapper, "_connection_pools", {})
    return pools


def close_before_fork() -> None:
    """Parent side: close this thread's idle connections and every connection pool."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block:
            try:
                conn.close()
            except Exception as exc:  # boundary: a broken connection must not stop the fork
                log.warning("db.close_before_fork_failed", alias=conn.alias, error=repr(exc))
    pools = _pools()
    for alias in list(pools):
        if any(
            c.alias == alias and c.in_atomic_block for c in connections.all(initialized_only=True)
        ):
            continue  # its connection is in use by an open transaction; the child detaches it
        pool = pools.pop(alias, None)
        if pool is not None:
            try:
                pool.close(timeout=1.0)
            except Exception as exc:  # boundary: as above
                log.warning("db.pool_close_before_fork_failed", alias=alias, error=repr(exc))


def detach_after_fork_in_child() -> None:
    """Child side: drop every inherited connection and pool without touching its socket."""
    pools = _pools()
    if pools:
        _inherited.append(dict(pools))
        pools.clear()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None
            conn.in_atomic_block = False
            conn.savepoint_ids = []
            conn.needs_rollback = False
            conn.closed_in_transaction = False
            conn.run_on_commit = []


def install_fork_hooks() -> None:
    """Register the hooks once per process (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        os.register_at_fork(before=close_before_fork, after_in_child=detach_after_fork_in_child)
        _installed = True
