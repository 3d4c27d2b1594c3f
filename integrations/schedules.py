"""Periodic tasks, registered by ``migrate`` (a ``post_migrate`` receiver) so every deploy has them.

The sweepers and heartbeats run on the sweeper cluster (``SWEEPER_CLUSTER``, its own queue), so a
backlog in the main queue never delays the jobs that recover lost work. Everything else runs on
the main cluster. ``ensure_schedules`` is idempotent: it creates or updates each entry by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

MAIN = "main"
SWEEPERS = "sweepers"


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str
    minutes: int
    cluster: str = SWEEPERS
    """``MAIN`` or ``SWEEPERS``: which cluster's queue runs it."""
    kwargs: dict[str, Any] = field(default_factory=dict)


def cluster_name(role: str) -> str:
    """The django-q2 cluster name behind ``MAIN`` or ``SWEEPERS``."""
    return str(settings.Q_CLUSTER["name"] if role == MAIN else settings.Q_SWEEPER_CLUSTER)


SCHEDULES: list[PeriodicJob] = [
    PeriodicJob(
        "task-cluster-heartbeat",
        "integrations.tasks.heartbeat",
        1,
        cluster=MAIN,
        kwargs={"role": MAIN},
    ),
    PeriodicJob(
        "sweeper-cluster-heartbeat",
        "integrations.tasks.heartbeat",
        1,
        kwargs={"role": SWEEPERS},
    ),
    PeriodicJob("deliveries-sweep", "integrations.deliveries.tasks.sweep", 1),
    PeriodicJob("webhooks-sweep", "integrations.webhooks.tasks.sweep", 1),
    PeriodicJob("webhooks-out-sweep", "integrations.webhooks_out.tasks.sweep", 1),
    PeriodicJob("staff-alerts-send", "integrations.alerts.tasks.send_due", 1),
    PeriodicJob("sandbox-webhooks-sweep", "integrations.sandbox.sweep", 1),
    PeriodicJob("webhooks-prune", "integrations.webhooks.tasks.prune", 1440, cluster=MAIN),
    PeriodicJob("payments-backstop", "payments.tasks.backstop", 5, cluster=MAIN),
    # Daily: each enabled provider's new settlement lines and payouts (it calls providers).
    PeriodicJob("settlements-import", "payments.settlements.tasks.import_daily", 1440, MAIN),
    # Hourly: journal entries for facts that came without an event (fees, paid payouts).
    PeriodicJob("journal-sweep", "accounting.tasks.journal_sweep", 60, cluster=MAIN),
    # Hourly: finance is reminded 3 days and 1 day before a dispute's evidence is due.
    PeriodicJob(
        "dispute-evidence-reminders", "payments.evidence.tasks.send_reminders", 60, cluster=MAIN
    ),
    PeriodicJob("shipping-alerts-scan", "shipping.tasks.scan_alerts", 60, cluster=MAIN),
    PeriodicJob("notifications-send-due", "notifications.tasks.send_due", 1, cluster=MAIN),
    PeriodicJob(
        "notifications-fallback-scan",
        "notifications.fallback.notification_fallback_scan",
        5,
        cluster=MAIN,
    ),
    PeriodicJob("hubspot-contacts-flush", "accounts.crm.hubspot.tasks.flush_contacts", 1, MAIN),
    PeriodicJob("hubspot-journal-catch-up", "accounts.crm.hubspot.tasks.journal_catch_up", 5, MAIN),
    PeriodicJob(
        "orders-idempotency-prune",
        "orders.services.order_idempotency_keys_prune",
        60,
        cluster=MAIN,
    ),
]


def ensure_schedules(using: str = "default") -> int:
    """Create or update every periodic job; returns how many there are."""
    from django_q.models import Schedule

    for job in SCHEDULES:
        Schedule.objects.using(using).update_or_create(
            name=job.name,
            defaults={
                "func": job.func,
                "kwargs": repr(job.kwargs) if job.kwargs else None,
                "schedule_type": Schedule.MINUTES,
                "minutes": job.minutes,
                "repeats": -1,
                "cluster": cluster_name(job.cluster),
            },
        )
    return len(SCHEDULES)


def ensure_schedules_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: register the jobs once django_q's tables exist."""
    from django.db import connections

    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_schedules(using=using)


def create_cache_tables_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: the embedded profile's database cache table (throttling, the
    sandbox sender's lease) exists after ``migrate`` alone; a no-op for other cache backends and
    for tables already there."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)
