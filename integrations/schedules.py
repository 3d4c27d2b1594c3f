"""Periodic tasks the cluster runs; ``ensure_schedules`` is idempotent."""

from __future__ import annotations

from django_q.models import Schedule

SCHEDULES = [
    {"name": "task-cluster-heartbeat", "func": "integrations.tasks.heartbeat", "minutes": 1},
    {"name": "deliveries-sweep", "func": "integrations.deliveries.tasks.sweep", "minutes": 1},
    {"name": "webhooks-sweep", "func": "integrations.webhooks.tasks.sweep", "minutes": 1},
    {"name": "webhooks-prune", "func": "integrations.webhooks.tasks.prune", "minutes": 1440},
]


def ensure_schedules() -> int:
    for spec in SCHEDULES:
        Schedule.objects.update_or_create(
            name=spec["name"],
            defaults={
                "func": spec["func"],
                "schedule_type": Schedule.MINUTES,
                "minutes": spec["minutes"],
                "repeats": -1,
            },
        )
    return len(SCHEDULES)
