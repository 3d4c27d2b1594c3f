"""Handing Delivery rows to the task cluster: one task per delivery, so subscribers never wait
on each other. The rows, not the broker, are the record of work: whatever the broker loses, the
sweeper sends again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from django_q.tasks import async_task

from integrations.models import Delivery, DomainEvent

log = structlog.get_logger(__name__)

RUN_DELIVERY_TASK = "integrations.deliveries.tasks.run_delivery"


def delivery_enqueue(*, delivery_id: int) -> bool:
    """Queue one ``run_delivery`` task for the delivery; True if the broker took it.

    Never raises: a broker failure is logged and the pending row is left to the sweeper. Queuing
    twice is harmless, the run claims the row first. Successful runs leave no django-q result row
    (the Delivery row is the record)."""
    try:
        async_task(RUN_DELIVERY_TASK, delivery_id, task_name=f"delivery-{delivery_id}", save=False)
    except Exception as exc:  # the broker is a boundary: record it, the sweeper retries
        log.warning(
            "delivery.enqueue_failed",
            delivery_id=delivery_id,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        return False
    return True


def enqueue_committed_deliveries(
    sender: Any,
    *,
    event: DomainEvent,
    delivery_ids: Sequence[int] | None = None,
    **kwargs: Any,
) -> None:
    """``domain_event_committed`` receiver: queue the event's deliveries, one task each.

    ``record_event`` passes the pks it created (no query); without them the pending rows are
    looked up."""
    if delivery_ids is None:
        delivery_ids = list(
            Delivery.objects.filter(event_id=event.pk, status=Delivery.Status.PENDING)
            .order_by("id")
            .values_list("pk", flat=True)
        )
    for delivery_id in delivery_ids:
        delivery_enqueue(delivery_id=delivery_id)
