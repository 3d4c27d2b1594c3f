"""Finance is reminded 3 days and 1 day before a dispute's evidence is due, each once, and not
for disputes whose evidence went in or that take none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from integrations.schedules import MAIN, SCHEDULES
from payments.evidence.models import DisputeEvidence, EvidenceReminder, EvidenceStatus
from payments.evidence.reminders import dispute_evidence_reminders_send
from payments.models import Dispute, DisputeStatus
from tests.factories import make_paid_payment

pytestmark = pytest.mark.django_db


def _dispute(due_in: timedelta, *, number: int = 1, status: str = DisputeStatus.NEEDS_RESPONSE):
    now = timezone.now()
    return Dispute.objects.create(
        payment=make_paid_payment(amount=9_900),
        provider="stripe",
        provider_dispute_id=f"dp_reminder_{number}",
        amount=9_900,
        currency="BRL",
        status=status,
        evidence_due_by=now + due_in,
        opened_at=now,
    )


def _reminders() -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.subject.startswith("Dispute evidence due")]


def test_reminders_go_out_3_days_and_1_day_before_the_deadline_each_once(
    finance_user: Any, other_finance_user: Any
) -> None:
    dispute = _dispute(timedelta(days=7))
    assert dispute.evidence_due_by is not None
    start = dispute.evidence_due_by - timedelta(days=7)

    # Hourly runs from 7 days before the deadline until it passes.
    sent_at: list[tuple[float, int]] = []
    for hour in range(0, 7 * 24 + 2):
        now = start + timedelta(hours=hour)
        before = len(_reminders())
        dispute_evidence_reminders_send(now=now)
        for _ in range(len(_reminders()) - before):
            sent_at.append(((dispute.evidence_due_by - now).total_seconds() / 86_400, hour))

    reminders = _reminders()
    assert len(reminders) == 2
    assert [round(days_left, 2) for days_left, _ in sent_at] == [3.0, 1.0]
    assert "due in 3 days" in reminders[0].subject and "due in 1 day " in reminders[1].subject
    assert sorted(reminders[0].to) == sorted([finance_user.email, other_finance_user.email])
    assert dispute.provider_dispute_id in reminders[0].body
    assert dispute.get_absolute_url() in reminders[0].body
    assert sorted(
        EvidenceReminder.objects.filter(dispute=dispute).values_list("days_before", flat=True)
    ) == [1, 3]


def test_a_dispute_first_seen_with_less_than_a_day_left_gets_only_the_last_reminder(
    finance_user: Any,
) -> None:
    _dispute(timedelta(hours=20))

    assert dispute_evidence_reminders_send() == 1
    assert dispute_evidence_reminders_send() == 0

    (reminder,) = _reminders()
    assert "due in 1 day" in reminder.subject


def test_no_reminder_once_the_evidence_is_submitted_or_the_dispute_takes_none(
    finance_user: Any,
) -> None:
    submitted = _dispute(timedelta(days=2), number=1)
    DisputeEvidence.objects.create(dispute=submitted, status=EvidenceStatus.SUBMITTED)
    _dispute(timedelta(days=2), number=2, status=DisputeStatus.UNDER_REVIEW)
    _dispute(timedelta(hours=-1), number=3)  # past due: too late to remind
    draft = _dispute(timedelta(days=2), number=4)
    DisputeEvidence.objects.create(dispute=draft)  # a draft still needs doing

    assert dispute_evidence_reminders_send() == 1
    assert [m.subject.split(" on ")[1].split(" ")[0] for m in _reminders()] == [
        draft.payment.order.number
    ]
    assert not EvidenceReminder.objects.exclude(dispute=draft).exists()


def test_a_failed_send_keeps_no_record_so_the_next_run_sends_it(
    finance_user: Any, settings: Any
) -> None:
    _dispute(timedelta(days=2))
    settings.EMAIL_BACKEND = "tests.support.failing_email.FailingBackend"
    with pytest.raises(OSError):
        dispute_evidence_reminders_send()
    assert not EvidenceReminder.objects.exists()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert dispute_evidence_reminders_send() == 1
    assert EvidenceReminder.objects.count() == 1


def test_the_reminders_are_scheduled_hourly_by_migrate() -> None:
    (job,) = [j for j in SCHEDULES if j.name == "dispute-evidence-reminders"]
    assert (job.func, job.minutes, job.cluster) == (
        "payments.evidence.tasks.send_reminders",
        60,
        MAIN,
    )
    schedule = Schedule.objects.get(name="dispute-evidence-reminders")
    assert schedule.func == "payments.evidence.tasks.send_reminders"
    assert schedule.minutes == 60
