"""A payout's entries tie out to what the bank received: a generated payout of charges with
fees, a refund and a chargeback; clearing nets to zero for it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounting.backfill import journal_backfill
from accounting.models import JournalEntry
from accounting.selectors import payout_tie_out
from payments.models import Payment
from payments.settlements.models import Payout, SettlementLine
from tests.accounting.conftest import balance, disputed, paid, refunded

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 10, tzinfo=UTC)


def _line(key: str, kind: str, amount: int, fee: int, source: str, payout: str = "po_1") -> None:
    SettlementLine.objects.create(
        provider="sandbox",
        provider_line_id=key,
        kind=kind,
        amount=amount,
        fee=fee,
        net=amount - fee,
        currency="BRL",
        source_id=source,
        payout_id=payout,
        created_at=AT,
    )


def _month() -> tuple[Payment, Payment, Payout]:
    one, two = paid(10_000, fee=399), paid(5_000, fee=200)
    refund = refunded(one, 2_500)
    dispute = disputed(two, 5_000)
    _line("txn_1", "charge", 10_000, 399, one.provider_payment_id)
    _line("txn_2", "charge", 5_000, 200, two.provider_payment_id)
    _line("txn_3", "refund", -2_500, 0, refund.provider_refund_id)
    _line("txn_4", "chargeback", -5_000, 1_500, dispute.provider_dispute_id)
    _line("txn_5", "payout", -5_401, 0, "po_1")
    # 9,601 + 4,800 - 2,500 - 6,500: what the bank receives.
    payout = Payout.objects.create(
        provider="sandbox",
        provider_payout_id="po_1",
        amount=5_401,
        currency="BRL",
        status="paid",
        created_at=AT,
    )
    return one, two, payout


def test_a_payout_ties_out_and_clearing_nets_to_zero() -> None:
    _, _, payout = _month()
    journal_backfill()
    tie = payout_tie_out(payout=payout)
    assert tie.bank_received == 5_401 == payout.amount
    assert tie.clearing_from_lines == 5_401
    assert tie.clearing_net == 0
    assert tie.unmatched_lines == []
    assert tie.ties_out
    kinds = sorted(
        JournalEntry.objects.filter(pk__in=tie.entry_ids).values_list("source_kind", flat=True)
    )
    assert kinds == sorted(
        ["payment.charge", "payment.fee"] * 2 + ["refund", "dispute.chargeback", "dispute.fee"]
    )
    # Over the whole journal, clearing is empty: everything that came in went to the bank.
    assert balance("provider_clearing") == 0
    assert balance("bank") == 5_401


def test_a_refund_after_the_payout_stays_out_of_it_and_a_missing_entry_shows() -> None:
    one, _, payout = _month()
    journal_backfill()
    late = refunded(Payment.objects.get(pk=one.pk), 1_000)
    journal_backfill()
    tie = payout_tie_out(payout=payout)
    assert tie.ties_out  # the later refund is in no line of this payout
    assert not JournalEntry.objects.filter(
        pk__in=tie.entry_ids, source_key=str(late.pk), source_kind="refund"
    ).exists()

    _line("txn_9", "charge", 700, 0, "pay_unknown")
    tie = payout_tie_out(payout=payout)
    assert tie.unmatched_lines == ["txn_9"]
    assert not tie.ties_out


def test_a_payout_not_posted_does_not_tie_out() -> None:
    _, _, payout = _month()
    Payout.objects.filter(pk=payout.pk).update(status="in_transit")
    journal_backfill()
    tie = payout_tie_out(payout=Payout.objects.get(pk=payout.pk))
    assert tie.bank_received == 0 and tie.clearing_from_lines == 5_401
    assert tie.clearing_net == 5_401 and not tie.ties_out


def test_the_tie_out_query_count_does_not_grow_with_the_payout(
    django_assert_max_num_queries: object,
) -> None:
    _, _, payout = _month()
    journal_backfill()
    with django_assert_max_num_queries(5):  # type: ignore[operator]
        payout_tie_out(payout=payout)
