"""Thin task entry points for payments; the work is in the services."""

from __future__ import annotations

from payments.backstop import payments_backstop_pending


def backstop() -> dict[str, int]:
    """Every 5 minutes (main cluster, it calls providers): re-fetch payments pending too long and
    apply their providers' answers. Idempotent; returns the run's counts for the task's result."""
    return payments_backstop_pending().as_dict()
