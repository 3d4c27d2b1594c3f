"""Thin task entry points for shipping; the work is in the services."""

from __future__ import annotations

from shipping.alerts import shipment_alerts_scan


def scan_alerts() -> dict[str, int]:
    """Hourly (main cluster): flag late shipments and carrier exceptions once each
    (``shipping.alerts``). Idempotent; returns the run's counts for the task's result."""
    return shipment_alerts_scan().as_dict()
