"""Thin task entry points for staff alerts."""

from __future__ import annotations

from integrations.alerts.services import staff_alert_send, staff_alerts_send_due


def send(alert_id: int) -> None:
    """Send what is pending of one staff alert."""
    staff_alert_send(alert_id=alert_id)


def send_due() -> int:
    """Periodic: send the staff alerts whose retry is due."""
    return staff_alerts_send_due()
