"""Thin task entry points; the work is in services."""

from __future__ import annotations

from integrations.health import task_heartbeat_record
from integrations.schedules import MAIN, cluster_name


def heartbeat(role: str = MAIN) -> None:
    """Record that the ``role`` cluster (main or sweepers) is running its scheduled tasks."""
    task_heartbeat_record(cluster=cluster_name(role))
