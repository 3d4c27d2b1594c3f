"""Thin task entry points for notifications; the work is in the workflows."""

from __future__ import annotations

from notifications.workflows import notification_send_due


def send_due() -> dict[str, int]:
    """Every minute (main cluster): send the notifications quiet hours held back whose time has
    come (``notification_send_due``). Idempotent; returns the run's counts."""
    return notification_send_due()
