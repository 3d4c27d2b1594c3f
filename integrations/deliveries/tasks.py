"""Thin task entry points for deliveries; the work is in ``relay``."""

from __future__ import annotations

import structlog

from integrations.deliveries.relay import deliveries_sweep, delivery_run
from integrations.models import Delivery

log = structlog.get_logger(__name__)


def run_delivery(delivery_pk: int) -> str:
    """Run one delivery (idempotent: a delivery not due, done or claimed elsewhere is left
    alone); returns its status for the task's result."""
    try:
        return delivery_run(delivery_id=delivery_pk).status
    except Delivery.DoesNotExist:
        log.warning("delivery.missing", delivery_id=delivery_pk)
        return "missing"


def sweep() -> int:
    """Every minute: send due retries, lost pending and stale running deliveries back to tasks."""
    return deliveries_sweep()
