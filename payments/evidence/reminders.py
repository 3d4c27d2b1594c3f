"""Reminders to finance that a dispute's evidence is due: 3 days and 1 day before
``evidence_due_by``, for disputes that still need a response and whose evidence is not
submitted. Each reminder is sent once per dispute (``EvidenceReminder``'s unique key), whoever
runs the job and however often; a dispute first seen with less than a day left gets only the
1-day reminder."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from payments.evidence.models import EvidenceReminder, EvidenceStatus
from payments.finance_notices import dispute_evidence_remind_finance
from payments.models import Dispute, DisputeStatus

log = structlog.get_logger(__name__)

REMINDER_DAYS = (3, 1)


def reminder_due(left: timedelta) -> int | None:
    """Which reminder (days before) is due with ``left`` until the deadline, if any."""
    for days in sorted(REMINDER_DAYS):
        if timedelta(0) < left <= timedelta(days=days):
            return days
    return None


def dispute_evidence_reminders_send(*, now: datetime | None = None) -> int:
    """Send the reminders due now; returns how many were sent. A send that fails rolls its
    reminder row back, so the next run sends it."""
    now = now or timezone.now()
    window = now + timedelta(days=max(REMINDER_DAYS))
    disputes = (
        Dispute.objects.filter(
            status=DisputeStatus.NEEDS_RESPONSE,
            evidence_due_by__gt=now,
            evidence_due_by__lte=window,
        )
        .exclude(evidence__status=EvidenceStatus.SUBMITTED)
        .select_related("payment__order")
        .order_by("evidence_due_by", "id")
    )
    sent = 0
    for dispute in disputes:
        assert dispute.evidence_due_by is not None
        days = reminder_due(dispute.evidence_due_by - now)
        if days is None:
            continue
        try:
            with transaction.atomic():
                EvidenceReminder.objects.create(
                    dispute=dispute, days_before=days, due_by=dispute.evidence_due_by, sent_at=now
                )
                dispute_evidence_remind_finance(dispute=dispute, days=days)
        except IntegrityError:
            continue  # sent already
        sent += 1
        log.info("dispute.evidence_reminder", dispute_id=dispute.pk, days_before=days)
    return sent
