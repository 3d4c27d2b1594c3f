"""Every money movement posts balanced double-entry lines to the chart of accounts, once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.test import override_settings

from accounting.exceptions import JournalNotBalanced, UnknownAccount
from accounting.models import JournalEntry, JournalLine
from accounting.postings import (
    journal_post_charge,
    journal_post_dispute,
    journal_post_fee,
    journal_post_payment,
    journal_post_payout,
    journal_post_refund,
    journal_post_split,
)
from accounting.services import credit, debit, journal_post, journal_post_write_off
from accounting.subscribers import post_write_off_to_journal
from integrations.models import DomainEvent
from payments.models import Dispute
from payments.reconciliation import reconciliation_resolve, reconciliation_write_off
from payments.settlements.models import Payout, SettlementLine
from payments.splits import SplitPartInput, order_split_set
from tests.accounting.conftest import disputed, lines_of, paid, refunded
from tests.factories import ReconciliationExceptionFactory, make_order, make_staff

pytestmark = pytest.mark.django_db
Kind = JournalEntry.SourceKind


def _every_entry_balances() -> None:
    for entry in JournalEntry.objects.all():
        sums = entry.lines.aggregate(d=Sum("debit"), c=Sum("credit"))
        assert sums["d"] == sums["c"] and entry.lines.count() >= 2 and entry.posted, entry


def test_a_charge_posts_clearing_against_revenue_and_its_fee_separately() -> None:
    payment = paid(10_000, fee=399)
    charge = journal_post_charge(payment_id=payment.pk)
    fee = journal_post_fee(payment_id=payment.pk)
    assert charge is not None and fee is not None
    assert lines_of(charge) == [("provider_clearing", 10_000, 0), ("revenue", 0, 10_000)]
    assert lines_of(fee) == [("provider_fees", 399, 0), ("provider_clearing", 0, 399)]
    assert (charge.source_kind, charge.source_key) == (Kind.CHARGE, str(payment.pk))
    assert charge.currency == "BRL" and charge.provider == "sandbox"
    assert {x.account_code for x in charge.lines.all()} == {"1150", "4000"}
    assert charge.entry_date == payment.succeeded_at
    _every_entry_balances()


def test_a_fee_not_known_yet_posts_nothing_until_it_is() -> None:
    payment = paid(10_000)
    assert journal_post_fee(payment_id=payment.pk) is None
    assert [e.source_kind for e in journal_post_payment(payment_id=payment.pk)] == [Kind.CHARGE]


def test_a_split_moves_the_recipients_share_from_revenue_through_split_payable() -> None:
    order = make_order(amount=10_000)
    order_split_set(
        order=order,
        parts=[
            SplitPartInput(wallet_id="w-fixed", fixed_amount=1_500),
            SplitPartInput(wallet_id="w-pct", percent=Decimal("10")),
        ],
    )
    from tests.factories import PaymentFactory

    payment = PaymentFactory.create(order=order, succeeded=True)
    assert journal_post_split(payment_id=payment.pk) is None  # 10 % of a net not known yet
    from payments.money_facts import payment_record_money

    payment_record_money(
        payment=payment, fee_amount=500, net_amount=9_500, settlement_currency="BRL"
    )
    split = journal_post_split(payment_id=payment.pk)
    assert split is not None
    # 1,500 fixed + 10 % of the 9,500 net = 950.
    assert lines_of(split) == [
        ("revenue", 2_450, 0),
        ("split_payable", 0, 1_500),
        ("split_payable", 0, 950),
        ("split_payable", 1_500, 0),
        ("split_payable", 950, 0),
        ("provider_clearing", 0, 2_450),
    ]
    _every_entry_balances()


def test_a_refund_posts_contra_revenue_against_clearing() -> None:
    payment = paid(10_000, fee=399)
    refund = refunded(payment, 2_500)
    entry = journal_post_refund(refund_id=refund.pk)
    assert entry is not None
    assert lines_of(entry) == [("refunds", 2_500, 0), ("provider_clearing", 0, 2_500)]
    assert entry.provider_ref == refund.provider_refund_id


def _dispute_line(dispute: Dispute, fee: int) -> None:
    SettlementLine.objects.create(
        provider=dispute.provider,
        provider_line_id=f"txn_{dispute.provider_dispute_id}",
        kind="chargeback",
        amount=-dispute.amount,
        fee=fee,
        net=-dispute.amount - fee,
        currency=dispute.currency,
        source_id=dispute.provider_dispute_id,
        created_at=dispute.opened_at,
    )


def test_a_chargeback_posts_its_amount_its_fee_once_known_and_a_won_dispute_reverses_it() -> None:
    payment = paid(10_000, fee=399)
    dispute = disputed(payment, 10_000)
    # The dispute event comes first; the provider's fee arrives with the settlement import.
    [chargeback] = journal_post_dispute(dispute_id=dispute.pk)
    assert lines_of(chargeback) == [("chargebacks", 10_000, 0), ("provider_clearing", 0, 10_000)]
    _dispute_line(dispute, 1_500)
    chargeback_again, fee = journal_post_dispute(dispute_id=dispute.pk)
    assert chargeback_again.pk == chargeback.pk
    assert (fee.source_kind, fee.source_key) == (Kind.CHARGEBACK_FEE, str(dispute.pk))
    assert lines_of(fee) == [("chargeback_fees", 1_500, 0), ("provider_clearing", 0, 1_500)]

    disputed(payment, 10_000, status="won")
    entries = journal_post_dispute(dispute_id=dispute.pk)
    assert [e.source_kind for e in entries] == [
        Kind.CHARGEBACK,
        Kind.CHARGEBACK_FEE,
        Kind.CHARGEBACK_REVERSAL,
    ]
    reversal = entries[2]
    assert reversal.reverses_id == chargeback.pk
    assert lines_of(reversal) == [("chargebacks", 0, 10_000), ("provider_clearing", 10_000, 0)]
    _every_entry_balances()


def test_a_lost_dispute_keeps_its_chargeback_and_reverses_nothing() -> None:
    payment = paid(10_000)
    dispute = disputed(payment, 4_000)
    disputed(payment, 4_000, status="lost")
    entries = journal_post_dispute(dispute_id=dispute.pk)
    assert [e.source_kind for e in entries] == [Kind.CHARGEBACK]
    assert lines_of(entries[0]) == [("chargebacks", 4_000, 0), ("provider_clearing", 0, 4_000)]
    assert not JournalEntry.objects.filter(source_kind=Kind.CHARGEBACK_REVERSAL).exists()


def test_a_paid_payout_posts_bank_against_clearing_and_a_pending_one_nothing() -> None:
    payout = Payout.objects.create(
        provider="stripe",
        provider_payout_id="po_9",
        amount=9_601,
        currency="BRL",
        status="in_transit",
        created_at=datetime(2026, 3, 9, tzinfo=UTC),
    )
    assert journal_post_payout(payout_id=payout.pk) is None
    Payout.objects.filter(pk=payout.pk).update(status="paid")
    entry = journal_post_payout(payout_id=payout.pk)
    assert entry is not None
    assert lines_of(entry) == [("bank", 9_601, 0), ("provider_clearing", 0, 9_601)]
    assert entry.source_key == "stripe:po_9"


def test_a_write_off_debits_the_named_account_and_negates_money_we_keep() -> None:
    at = datetime(2026, 3, 12, tzinfo=UTC)
    lost, created = journal_post_write_off(
        exception_id=7, account="6900", amount=250, currency="BRL", provider="asaas", occurred_at=at
    )
    assert created and lines_of(lost) == [("write_offs", 250, 0), ("provider_clearing", 0, 250)]
    kept, _ = journal_post_write_off(
        exception_id=8, account="6900", amount=-80, currency="BRL", provider="asaas", occurred_at=at
    )
    assert lines_of(kept) == [("write_offs", 0, 80), ("provider_clearing", 80, 0)]
    again, created = journal_post_write_off(
        exception_id=7, account="6900", amount=999, currency="BRL", provider="asaas", occurred_at=at
    )
    assert (again.pk, created) == (lost.pk, False)
    with pytest.raises(UnknownAccount):
        journal_post_write_off(
            exception_id=9, account="9999", amount=1, currency="BRL", provider="x", occurred_at=at
        )
    assert JournalEntry.objects.count() == 2


def test_each_fact_posts_once_however_often_it_is_posted() -> None:
    payment = paid(10_000, fee=399)
    first = journal_post_payment(payment_id=payment.pk)
    second = journal_post_payment(payment_id=payment.pk)
    assert [e.pk for e in first] == [e.pk for e in second]
    assert JournalEntry.objects.count() == 2 and JournalLine.objects.count() == 4


def test_the_service_refuses_an_unbalanced_entry_and_writes_nothing() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(JournalNotBalanced):
        journal_post(
            source_kind=Kind.PAYOUT,
            source_key="x",
            occurred_at=at,
            currency="BRL",
            lines=[debit("bank", 100), credit("provider_clearing", 99)],
            memo="off by one",
        )
    with pytest.raises(JournalNotBalanced):
        journal_post(
            source_kind=Kind.PAYOUT,
            source_key="x",
            occurred_at=at,
            currency="BRL",
            lines=[debit("bank", 0), credit("provider_clearing", 0)],
            memo="nothing",
        )
    assert not JournalEntry.objects.exists()


@override_settings(
    ACCOUNTING_ACCOUNTS={
        "provider_clearing": {"code": "610", "name": "Stripe clearing"},
        "revenue": {"code": "200", "name": "Sales"},
    }
)
def test_the_chart_of_accounts_comes_from_settings() -> None:
    payment = paid(5_000)
    entry = journal_post_charge(payment_id=payment.pk)
    assert entry is not None
    assert [(x.account_code, x.account_name) for x in entry.lines.order_by("id")] == [
        ("610", "Stripe clearing"),
        ("200", "Sales"),
    ]
    with pytest.raises(UnknownAccount):
        journal_post_fee(payment_id=paid(5_000, fee=10).pk)


def test_a_resolved_write_off_reaches_the_journal_through_its_event() -> None:
    """The queue's write-off records reconciliation.exception_resolved; the journal's subscriber
    posts it to the chosen account once, and the other resolutions post nothing."""
    finance = make_staff("finance-w", role="finance")
    written_off = reconciliation_write_off(
        exception=ReconciliationExceptionFactory.create(amount=150),
        user=finance,
        account="6100",
        amount=150,
        note="The PSP rounded its fee",
    )
    noted = reconciliation_resolve(
        exception=ReconciliationExceptionFactory.create(), user=finance, note="Seen"
    )

    for exception in (written_off, noted):
        event = DomainEvent.objects.get(
            type="reconciliation.exception_resolved", subject_id=str(exception.pk)
        )
        post_write_off_to_journal(event)
        post_write_off_to_journal(event)  # a redelivery

    entry = JournalEntry.objects.get()
    assert (entry.source_kind, entry.source_key) == (
        "reconciliation.write_off",
        str(written_off.pk),
    )
    assert lines_of(entry) == [("provider_fees", 150, 0), ("provider_clearing", 0, 150)]
