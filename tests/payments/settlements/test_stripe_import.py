"""Stripe balance transactions and payouts imported through the SDK from the fake Stripe."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.exceptions import ProviderRejected
from payments.providers.stripe.client import StripeGateway
from payments.settlements.models import (
    Payout,
    PayoutStatus,
    SettlementCursor,
    SettlementKind,
    SettlementLine,
)
from payments.settlements.workflows import settlements_import_stripe
from tests.support.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


class Crash(Exception):
    pass


def _charges(fake: FakeStripe, count: int, amount: int = 10_000) -> list[dict[str, Any]]:
    return [
        fake.add_balance_transaction(
            "charge", amount, fee=320, source=f"ch_{i:05d}", reporting_category="charge"
        )
        for i in range(count)
    ]


def _snapshot() -> list[tuple[Any, ...]]:
    return list(
        SettlementLine.objects.order_by("provider_line_id").values_list(
            "provider_line_id",
            "kind",
            "amount",
            "fee",
            "net",
            "currency",
            "payout_id",
            "created_at",
            "imported_at",
            "raw",
        )
    )


def test_pages_across_the_list_and_a_reimport_changes_nothing(fake_stripe: FakeStripe) -> None:
    charges = _charges(fake_stripe, 250)
    first = settlements_import_stripe(kinds=("balance_transactions",), page_size=100)
    assert (first.lines_seen, first.lines_created, first.pages) == (250, 250, 3)
    calls = fake_stripe.requests_to("/v1/balance_transactions", "GET")
    assert [c.form.get("limit") for c in calls] == ["100", "100", "100"]
    assert "starting_after" not in calls[0].form
    # Newest first: page 1 ends at the 100th newest line, page 2 at the 200th.
    assert calls[1].form["starting_after"] == charges[150]["id"]
    assert calls[2].form["starting_after"] == charges[50]["id"]
    line = SettlementLine.objects.get(source_id="ch_00000")
    assert (line.kind, line.amount, line.fee, line.net, line.currency) == (
        SettlementKind.CHARGE,
        10_000,
        320,
        9_680,
        "BRL",
    )
    assert line.created_at.utcoffset() is not None and line.created_at.timestamp() == 1_780_000_001
    before = _snapshot()

    again = settlements_import_stripe(kinds=("balance_transactions",), page_size=100, since=None)
    assert again.lines_created == 0 and again.lines_linked == 0
    assert _snapshot() == before


def test_the_next_run_starts_at_the_newest_line_seen(fake_stripe: FakeStripe) -> None:
    _charges(fake_stripe, 3)
    settlements_import_stripe(kinds=("balance_transactions",))
    cursor = SettlementCursor.objects.get(provider="stripe", kind="balance_transactions")
    assert not cursor.running and cursor.high_water is not None
    assert int(cursor.high_water.timestamp()) == 1_780_000_003
    _charges(fake_stripe, 2)
    result = settlements_import_stripe(kinds=("balance_transactions",))
    gte = fake_stripe.requests_to("/v1/balance_transactions", "GET")[-1].form["created[gte]"]
    assert int(gte) == 1_780_000_003 - 3600  # the overlap: a few lines fetched again, ignored
    assert (result.lines_created, SettlementLine.objects.count()) == (2, 5)


def test_an_interrupted_import_resumes_where_it_stopped(fake_stripe: FakeStripe) -> None:
    _charges(fake_stripe, 250)

    def crash_after_first_page(kind: str, done: int, total: int | None) -> None:
        if done == 100:
            raise Crash

    with pytest.raises(Crash):
        settlements_import_stripe(
            kinds=("balance_transactions",), page_size=100, progress=crash_after_first_page
        )
    assert SettlementLine.objects.count() == 100
    cursor = SettlementCursor.objects.get(provider="stripe", kind="balance_transactions")
    assert cursor.running and cursor.position
    fake_stripe.seen.clear()

    result = settlements_import_stripe(kinds=("balance_transactions",), page_size=100)
    calls = fake_stripe.requests_to("/v1/balance_transactions", "GET")
    assert calls[0].form["starting_after"] == cursor.position  # not from the top again
    assert (len(calls), result.lines_created) == (2, 150)
    assert SettlementLine.objects.count() == 250
    cursor.refresh_from_db()
    assert not cursor.running and cursor.position == ""


def test_a_payout_imported_before_its_charges(fake_stripe: FakeStripe) -> None:
    charges = _charges(fake_stripe, 3)
    payout = fake_stripe.pay_out()
    assert payout["amount"] == 3 * 9_680

    result = settlements_import_stripe(kinds=("payouts",))
    assert (result.payouts_created, result.lines_created) == (1, 4)  # 3 charges + the payout line
    stored = Payout.objects.get()
    assert (stored.provider_payout_id, stored.amount, stored.currency, stored.status) == (
        payout["id"],
        29_040,
        "BRL",
        PayoutStatus.PAID,
    )
    assert stored.arrival_date is not None
    assert set(SettlementLine.objects.values_list("payout_id", flat=True)) == {payout["id"]}
    assert (
        fake_stripe.requests_to("/v1/balance_transactions", "GET")[0].form["payout"] == payout["id"]
    )

    later = settlements_import_stripe(kinds=("balance_transactions",))
    assert (later.lines_seen, later.lines_created) == (4, 0)
    lines = SettlementLine.objects.filter(provider_line_id__in=[c["id"] for c in charges])
    assert {line.payout_id for line in lines} == {payout["id"]}
    payout_line = SettlementLine.objects.get(kind=SettlementKind.PAYOUT)
    assert payout_line.amount == -29_040 and payout_line.source_id == payout["id"]


def test_charges_imported_first_are_linked_to_their_payout_later(fake_stripe: FakeStripe) -> None:
    _charges(fake_stripe, 2)
    settlements_import_stripe(kinds=("balance_transactions",))
    assert set(SettlementLine.objects.values_list("payout_id", flat=True)) == {""}
    payout = fake_stripe.pay_out(status="in_transit")
    result = settlements_import_stripe(kinds=("payouts",))
    assert (result.lines_created, result.lines_linked) == (1, 2)
    assert set(SettlementLine.objects.values_list("payout_id", flat=True)) == {payout["id"]}
    # The payout lands: its status moves, nothing else does.
    fake_stripe.payouts[payout["id"]]["status"] = "paid"
    again = settlements_import_stripe()
    assert (again.lines_created, again.lines_linked, again.payouts_created) == (0, 0, 0)
    assert Payout.objects.get().status == PayoutStatus.PAID


def test_a_refund_after_the_payout_belongs_to_the_next_one(fake_stripe: FakeStripe) -> None:
    (charge,) = _charges(fake_stripe, 1)
    first = fake_stripe.pay_out()
    refund = fake_stripe.add_balance_transaction("refund", -4_000, source="re_after_payout")
    _charges(fake_stripe, 1, amount=20_000)
    settlements_import_stripe()
    line = SettlementLine.objects.get(provider_line_id=refund["id"])
    assert (line.kind, line.amount, line.net, line.payout_id) == (
        SettlementKind.REFUND,
        -4_000,
        -4_000,
        "",
    )
    assert SettlementLine.objects.get(provider_line_id=charge["id"]).payout_id == first["id"]

    second = fake_stripe.pay_out()
    result = settlements_import_stripe()
    assert result.lines_linked == 2  # the refund and the new charge
    assert SettlementLine.objects.get(provider_line_id=refund["id"]).payout_id == second["id"]
    assert SettlementLine.objects.get(provider_line_id=charge["id"]).payout_id == first["id"]
    for payout in Payout.objects.all():
        paid_out = SettlementLine.objects.filter(payout_id=payout.provider_payout_id).exclude(
            kind=SettlementKind.PAYOUT
        )
        assert sum(p.net for p in paid_out) == payout.amount  # each payout ties out
    assert Payout.objects.get(provider_payout_id=second["id"]).amount == 19_680 - 4_000


def test_disputes_are_chargebacks_and_reversals(fake_stripe: FakeStripe) -> None:
    fake_stripe.add_balance_transaction(
        "adjustment", -10_000, fee=1_500, source="du_1", reporting_category="dispute"
    )
    fake_stripe.add_balance_transaction(
        "adjustment", 10_000, source="du_1", reporting_category="dispute_reversal"
    )
    settlements_import_stripe(kinds=("balance_transactions",))
    kinds = dict(SettlementLine.objects.values_list("amount", "kind"))
    assert kinds == {-10_000: SettlementKind.CHARGEBACK, 10_000: SettlementKind.CHARGEBACK_REVERSAL}
    assert SettlementLine.objects.get(amount=-10_000).net == -11_500


def test_a_paid_intent_and_its_refund_appear_as_stripe_books_them(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway.from_settings()
    intent = gateway.create_payment_intent(
        amount=5_000,
        currency="BRL",
        reference="ord-1",
        payment_method_types=["card"],
        payment_method="pm_card_visa",
    )
    gateway.create_refund(payment_intent=intent.id, amount=1_000, reference="ord-1-r1")
    settlements_import_stripe(kinds=("balance_transactions",))
    charge = SettlementLine.objects.get(kind=SettlementKind.CHARGE)
    refund = SettlementLine.objects.get(kind=SettlementKind.REFUND)
    assert (charge.source_id, charge.amount, charge.fee) == (intent.latest_charge, 5_000, 175)
    assert refund.amount == -1_000 and refund.source_id.startswith("re_")


def test_the_fake_refuses_what_stripe_refuses(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway.from_settings()
    with pytest.raises(ProviderRejected, match="parameter_invalid_integer"):
        gateway.list_balance_transactions(limit=101)
    with pytest.raises(ProviderRejected, match="resource_missing"):
        gateway.list_balance_transactions(payout="po_unknown")
    with pytest.raises(ProviderRejected, match="resource_missing"):
        gateway.list_balance_transactions(starting_after="txn_unknown")
    with pytest.raises(ProviderRejected, match="resource_missing"):
        gateway.retrieve_payout("po_unknown")
    payout = fake_stripe.pay_out()
    assert gateway.retrieve_payout(payout["id"])["amount"] == 0
