"""Periods (a closed one never changes; late facts post to the open period with a reference),
the backfill command (each fact once; a second run changes nothing) and the subscribers."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command

from accounting.exceptions import PeriodClosed
from accounting.models import AccountingPeriod, JournalEntry, JournalLine
from accounting.services import accounting_period_close, credit, debit, journal_post
from accounts.models import AuditLogEntry
from integrations.schedules import SCHEDULES
from payments.models import Payment
from payments.settlements.models import Payout
from tests.accounting.conftest import disputed, paid, refunded
from tests.factories import make_order, make_paid_payment, make_staff

pytestmark = pytest.mark.django_db
Kind = JournalEntry.SourceKind


def _post(key: str, at: datetime) -> JournalEntry:
    entry, _ = journal_post(
        source_kind=Kind.PAYOUT,
        source_key=key,
        occurred_at=at,
        currency="BRL",
        lines=[debit("bank", 100), credit("provider_clearing", 100)],
        memo=key,
    )
    return entry


def test_a_fact_goes_into_its_months_period() -> None:
    entry = _post("a", datetime(2026, 3, 31, 23, 59, tzinfo=UTC))
    assert entry.period.month == date(2026, 3, 1) and entry.late_for is None
    assert entry.reference == "payout:a"


def test_closing_a_period_is_audited_and_refused_twice() -> None:
    finance = make_staff("fin", role="finance")
    _post("a", datetime(2026, 3, 5, tzinfo=UTC))
    period = AccountingPeriod.objects.get(month=date(2026, 3, 1))
    closed = accounting_period_close(period=period, closed_by=finance)
    assert closed.status == "closed" and closed.closed_by == finance and closed.closed_at
    audit = AuditLogEntry.objects.get(object_id=str(period.pk), action="admin_change")
    assert audit.actor == finance and audit.changes == {"status": ["open", "closed"]}
    assert "2026-03 closed (1 entries)" in audit.summary
    with pytest.raises(PeriodClosed):
        accounting_period_close(period=period, closed_by=finance)
    assert AuditLogEntry.objects.filter(object_id=str(period.pk)).count() == 1


def test_a_late_fact_posts_into_the_first_open_period_with_a_reference() -> None:
    finance = make_staff("fin", role="finance")
    march = AccountingPeriod.objects.create(month=date(2026, 3, 1))
    april = AccountingPeriod.objects.create(month=date(2026, 4, 1))
    accounting_period_close(period=march, closed_by=finance)
    accounting_period_close(period=april, closed_by=finance)
    late = _post("late", datetime(2026, 3, 20, 8, 0, tzinfo=UTC))
    assert late.period.month == date(2026, 5, 1)
    assert late.late_for == march
    assert late.entry_date == datetime(2026, 5, 1, tzinfo=UTC)  # booked in the open period
    assert late.occurred_at == datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    assert late.reference == "payout:late (late for 2026-03)"
    assert not JournalEntry.objects.filter(period__in=[march, april]).exists()


def test_a_late_payment_event_posts_to_the_open_period() -> None:
    payment = paid(10_000)
    finance = make_staff("fin", role="finance")
    natural = AccountingPeriod.objects.create(month=payment.succeeded_at.replace(day=1).date())  # type: ignore[union-attr]
    accounting_period_close(period=natural, closed_by=finance)
    call_command("journal_backfill", stdout=io.StringIO(), stderr=io.StringIO())
    entry = JournalEntry.objects.get(source_kind=Kind.CHARGE, source_key=str(payment.pk))
    assert entry.late_for == natural and entry.period.month > natural.month


def _facts() -> dict[str, object]:
    with_fee = paid(10_000, fee=399)
    other = paid(5_000, fee=200)
    refund = refunded(with_fee, 2_500)
    dispute = disputed(other, 5_000)
    payout = Payout.objects.create(
        provider="sandbox",
        provider_payout_id="po_1",
        amount=9_000,
        currency="BRL",
        status="paid",
        created_at=datetime(2026, 3, 9, tzinfo=UTC),
    )
    Payout.objects.create(
        provider="sandbox",
        provider_payout_id="po_2",
        amount=1,
        currency="BRL",
        status="pending",
        created_at=datetime(2026, 3, 9, tzinfo=UTC),
    )
    return {"payments": [with_fee, other], "refund": refund, "dispute": dispute, "payout": payout}


def test_backfill_posts_every_fact_once_and_a_second_run_changes_nothing() -> None:
    _facts()
    out, err = io.StringIO(), io.StringIO()
    call_command("journal_backfill", stdout=out, stderr=err)
    kinds = sorted(JournalEntry.objects.values_list("source_kind", flat=True))
    assert kinds == sorted(
        [Kind.CHARGE, Kind.CHARGE, Kind.FEE, Kind.FEE, Kind.REFUND, Kind.CHARGEBACK, Kind.PAYOUT]
    )
    assert "7 new entries" in out.getvalue()
    assert "journal" in err.getvalue() and "100%" in err.getvalue()  # the progress bar
    lines = list(JournalLine.objects.order_by("id").values_list("id", "debit", "credit"))

    out = io.StringIO()
    call_command("journal_backfill", stdout=out, stderr=io.StringIO())
    assert "0 new entries" in out.getvalue()
    assert list(JournalLine.objects.order_by("id").values_list("id", "debit", "credit")) == lines


def test_backfill_posts_a_fee_reported_after_the_charge() -> None:
    payment = paid(10_000)
    call_command("journal_backfill", stdout=io.StringIO(), stderr=io.StringIO())
    assert JournalEntry.objects.filter(source_kind=Kind.FEE).count() == 0
    from payments.money_facts import payment_record_money

    payment_record_money(
        payment=payment, fee_amount=99, net_amount=9_901, settlement_currency="BRL"
    )
    from accounting.tasks import journal_sweep

    assert journal_sweep() == 1
    assert JournalEntry.objects.get(source_kind=Kind.FEE).source_key == str(payment.pk)
    assert journal_sweep() == 0


def test_the_sweep_posts_a_chargeback_fee_imported_after_the_dispute() -> None:
    from accounting.tasks import journal_sweep
    from payments.settlements.models import SettlementLine

    dispute = disputed(paid(10_000), 10_000)
    assert journal_sweep() == 2  # the charge and the chargeback
    SettlementLine.objects.create(
        provider=dispute.provider,
        provider_line_id="txn_dp",
        kind="chargeback",
        amount=-10_000,
        fee=1_500,
        net=-11_500,
        currency="BRL",
        source_id=dispute.provider_dispute_id,
        created_at=dispute.opened_at,
    )
    assert journal_sweep() == 1
    assert JournalEntry.objects.get(source_kind=Kind.CHARGEBACK_FEE).source_key == str(dispute.pk)
    assert journal_sweep() == 0


def test_the_sweep_is_registered_by_migrate() -> None:
    from django_q.models import Schedule

    job = next(j for j in SCHEDULES if j.name == "journal-sweep")
    assert job.func == "accounting.tasks.journal_sweep"
    assert Schedule.objects.filter(name="journal-sweep", func=job.func).exists()


def test_committed_events_post_through_the_subscribers(
    django_capture_on_commit_callbacks: object,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        payment = make_paid_payment(order=make_order(amount=7_000))
    assert JournalEntry.objects.filter(source_kind=Kind.CHARGE, source_key=str(payment.pk)).exists()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        refund = refunded(Payment.objects.get(pk=payment.pk), 1_000)
    assert JournalEntry.objects.filter(source_kind=Kind.REFUND, source_key=str(refund.pk)).exists()
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        dispute = disputed(payment, 6_000)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        disputed(payment, 6_000, status="won")
    assert set(
        JournalEntry.objects.filter(
            source_kind__startswith="dispute.", source_key=str(dispute.pk)
        ).values_list("source_kind", flat=True)
    ) == {Kind.CHARGEBACK, Kind.CHARGEBACK_REVERSAL}
