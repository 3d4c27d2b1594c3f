"""Thin task entry points; the work is in services."""

from __future__ import annotations

from django.conf import settings

from integrations.health import task_heartbeat_record


def heartbeat() -> None:
    task_heartbeat_record(cluster=settings.Q_CLUSTER["name"])
