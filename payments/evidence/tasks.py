"""The hourly evidence reminders (registered by ``migrate``, integrations/schedules.py)."""

from __future__ import annotations

from payments.evidence.reminders import dispute_evidence_reminders_send


def send_reminders() -> int:
    return dispute_evidence_reminders_send()
