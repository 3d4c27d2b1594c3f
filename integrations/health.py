"""What /health/ reports: the database, the task cluster's last heartbeat, the providers' circuit
breakers, the version."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from integrations.models import CircuitBreaker, TaskHeartbeat
from integrations.outbound.breaker import breaker_states


def task_heartbeat_record(*, cluster: str) -> TaskHeartbeat:
    """Record that ``cluster`` just ran a task (idempotent upsert)."""
    heartbeat, _ = TaskHeartbeat.objects.update_or_create(
        cluster=cluster, defaults={"beat_at": timezone.now()}
    )
    return heartbeat


def health_report() -> tuple[bool, dict[str, Any]]:
    """Returns (database is up, report). A stale cluster or a breaker that is not closed degrades
    the report but is not fatal: webhooks are still stored and work waits in its rows. Makes three
    queries whatever the number of providers."""
    report: dict[str, Any] = {
        "version": settings.APP_VERSION,
        "profile": settings.SWITCHBOARD_PROFILE,
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        report["database"] = {"ok": True, "vendor": connection.vendor}
    except DatabaseError as exc:
        report["database"] = {"ok": False, "vendor": connection.vendor, "error": type(exc).__name__}
        report["task_cluster"] = {"ok": False, "last_heartbeat": None}
        report["sweeper_cluster"] = {"ok": False, "last_heartbeat": None}
        report["circuit_breakers"] = None
        report["status"] = "down"
        return False, report

    beats = {
        row.cluster: row
        for row in TaskHeartbeat.objects.filter(
            cluster__in=[settings.Q_CLUSTER["name"], settings.Q_SWEEPER_CLUSTER]
        )
    }
    report["task_cluster"] = _cluster_health(beats.get(settings.Q_CLUSTER["name"]))
    report["sweeper_cluster"] = _cluster_health(beats.get(settings.Q_SWEEPER_CLUSTER))
    breakers = {row["provider"]: row["state"] for row in breaker_states()}
    report["circuit_breakers"] = breakers
    all_closed = all(state == CircuitBreaker.State.CLOSED for state in breakers.values())
    clusters_ok = report["task_cluster"]["ok"] and report["sweeper_cluster"]["ok"]
    report["status"] = "ok" if clusters_ok and all_closed else "degraded"
    return True, report


def _cluster_health(heartbeat: TaskHeartbeat | None) -> dict[str, Any]:
    if heartbeat is None:
        return {"ok": False, "last_heartbeat": None, "age_seconds": None}
    age = timezone.now() - heartbeat.beat_at
    return {
        "ok": age <= timedelta(seconds=settings.TASK_HEARTBEAT_STALE_SECONDS),
        "last_heartbeat": heartbeat.beat_at.isoformat(),
        "age_seconds": round(age.total_seconds(), 1),
    }
