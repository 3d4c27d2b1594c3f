"""The matching engine: each pass, at most once, late and early facts, exceptions made once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from payments.models import Dispute, Payment, ReconciliationException, Refund
from payments.settlements.engine import settlements_match
from payments.settlements.models import (
    MatchingRule,
    MatchMethod,
    Payout,
    SettlementLine,
    SettlementMatch,
    SettlementMatchItem,
)
from tests.factories import (
    PaymentFactory,
    PayoutFactory,
    RefundFactory,
    SettlementLineFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime.now(tz=UTC)


def stripe_payment(intent: str, *, amount: int = 10_000, **facts: Any) -> Payment:
    """A succeeded Stripe payment of ``amount`` (the order's total) known by ``intent``."""
    payment = PaymentFactory.create(succeeded=True, order__amount=amount)
    Payment.objects.filter(pk=payment.pk).update(
        provider="stripe", provider_payment_id=intent, **facts
    )
    payment.refresh_from_db()
    return payment


def charge_line(intent: str, **kwargs: Any) -> SettlementLine:
    """A Stripe charge balance transaction whose expanded source names the PaymentIntent."""
    charge = kwargs.pop("source_id", f"ch_{intent}")
    return SettlementLineFactory.create(
        source_id=charge, raw={"source": {"id": charge, "payment_intent": intent}}, **kwargs
    )


def items_of(match: SettlementMatch) -> set[str]:
    return {str(item) for item in match.items.all()}


def only_rules(*names: str) -> None:
    MatchingRule.objects.exclude(name__in=names).update(active=False)


def test_provider_id_pass_matches_a_payment_with_its_charge_and_fee_lines():
    payment = stripe_payment("pi_1")
    charge = charge_line("pi_1")
    fee = SettlementLineFactory.create(
        provider="asaas", kind="fee", amount=-399, fee=0, source_id="pay_1"
    )
    asaas = PaymentFactory.create(succeeded=True)
    Payment.objects.filter(pk=asaas.pk).update(provider="asaas", provider_payment_id="pay_1")
    received = SettlementLineFactory.create(provider="asaas", fee=0, source_id="pay_1")

    result = settlements_match()

    assert result.matches["provider_id"] == 2 and result.lines["provider_id"] == 3
    stripe_match = SettlementMatch.objects.get(items__payment=payment)
    assert stripe_match.method == MatchMethod.PROVIDER_ID
    assert items_of(stripe_match) == {f"payment {payment.pk}", f"line {charge.pk}"}
    asaas_match = SettlementMatch.objects.get(items__payment_id=asaas.pk)
    assert items_of(asaas_match) == {f"payment {asaas.pk}", f"line {fee.pk}", f"line {received.pk}"}


def test_refund_dispute_and_payout_lines_match_by_their_provider_ids():
    refund = RefundFactory.create(payment=stripe_payment("pi_r"))
    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="re_1")
    dispute = Dispute.objects.create(
        payment=refund.payment,
        provider="stripe",
        provider_dispute_id="dp_1",
        amount=10_000,
        currency="BRL",
        opened_at=NOW,
    )
    payout = PayoutFactory.create(provider_payout_id="po_1")
    refund_line = SettlementLineFactory.create(
        kind="refund", amount=-5_000, fee=0, source_id="re_1"
    )
    dispute_line = SettlementLineFactory.create(
        kind="chargeback", amount=-10_000, fee=1_500, source_id="dp_1"
    )
    payout_line = SettlementLineFactory.create(
        kind="payout", amount=-9_601, fee=0, source_id="po_1", payout_id="po_1"
    )

    settlements_match()

    assert (
        SettlementMatchItem.objects.get(line=refund_line).match.items.filter(refund=refund).exists()
    )
    assert (
        SettlementMatchItem.objects.get(line=dispute_line)
        .match.items.filter(dispute=dispute)
        .exists()
    )
    assert (
        SettlementMatchItem.objects.get(line=payout_line).match.items.filter(payout=payout).exists()
    )


def test_a_second_run_changes_nothing_and_a_reimport_changes_nothing():
    stripe_payment("pi_1")
    line = charge_line("pi_1", created_at=NOW - timedelta(days=10))
    SettlementLineFactory.create(created_at=NOW - timedelta(days=10), source_id="ch_nobody")
    first = settlements_match()
    counts = (SettlementMatch.objects.count(), SettlementMatchItem.objects.count())
    exceptions = ReconciliationException.objects.count()

    # The import stores the same line again: ON CONFLICT DO NOTHING, so nothing moves.
    from payments.settlements.services import settlement_lines_store

    again = SettlementLine(
        **{f.attname: getattr(line, f.attname) for f in SettlementLine._meta.concrete_fields}
    )
    again.pk = None
    assert settlement_lines_store([again]).created == 0
    second = settlements_match()

    assert first.matches_created == 1 and first.exceptions_created == 1
    assert second.matches_created == 0 and second.lines_matched == 0
    assert second.exceptions_created == 0
    assert (SettlementMatch.objects.count(), SettlementMatchItem.objects.count()) == counts
    assert ReconciliationException.objects.count() == exceptions


def test_a_payout_before_its_charges_are_processed_matches_on_the_next_run():
    payment = PaymentFactory.create(order__amount=10_000)  # still pending
    Payment.objects.filter(pk=payment.pk).update(provider="stripe", provider_payment_id="pi_9")
    PayoutFactory.create(provider_payout_id="po_9", amount=9_601)
    line = charge_line("pi_9", payout_id="po_9")

    assert settlements_match().lines["provider_id"] == 0
    assert not SettlementMatchItem.objects.filter(line=line).exists()

    from payments.services import payment_mark_succeeded

    payment_mark_succeeded(payment=Payment.objects.get(pk=payment.pk))
    settlements_match()

    match = SettlementMatchItem.objects.get(line=line).match
    assert items_of(match) == {f"payment {payment.pk}", f"line {line.pk}"}
    assert not ReconciliationException.objects.filter(provider_object_id="po_9").exists()


def test_a_refund_after_the_payout_joins_its_own_match_and_the_next_payout_ties_out():
    payment = stripe_payment("pi_2")
    PayoutFactory.create(provider_payout_id="po_a", amount=9_601)
    charge_line("pi_2", payout_id="po_a")
    settlements_match()
    refund = RefundFactory.create(payment=payment, amount=3_000)
    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="re_2")
    refund_line = SettlementLineFactory.create(
        kind="refund", amount=-3_000, fee=0, source_id="re_2", payout_id="po_b"
    )
    other = charge_line("pi_other", payout_id="po_b", amount=5_000, fee=0)
    PayoutFactory.create(provider_payout_id="po_b", amount=2_000)

    settlements_match()

    match = SettlementMatchItem.objects.get(line=refund_line).match
    assert items_of(match) == {f"refund {refund.pk}", f"line {refund_line.pk}"}
    # The charge stays in its first match; the second payout's lines (+50.00 - 30.00) tie out.
    assert SettlementMatchItem.objects.get(payment=payment).match.items.count() == 2
    assert not SettlementMatchItem.objects.filter(line=other).exists()
    assert not ReconciliationException.objects.filter(kind="amount_mismatch").exists()


def test_a_late_fee_line_joins_the_payments_existing_match():
    payment = stripe_payment("pi_3")
    charge_line("pi_3")
    settlements_match()
    fee = SettlementLineFactory.create(kind="fee", amount=-50, fee=0, source_id="pi_3")

    result = settlements_match()

    assert result.matches_created == 0 and result.lines["provider_id"] == 1
    assert SettlementMatchItem.objects.get(line=fee).match.items.filter(payment=payment).exists()


def test_rules_pass_matches_by_amount_date_and_reference_when_unique_both_ways():
    only_rules("Same amount, order number in the reference, within 3 days")
    payment = stripe_payment("pi_4", amount=12_345)
    line = SettlementLineFactory.create(
        amount=12_345,
        source_id="ch_unlinked",
        description=f"Order {payment.order.number}",
        created_at=timezone.now() + timedelta(days=1),
    )
    far = stripe_payment("pi_5", amount=7_000)
    SettlementLineFactory.create(
        amount=7_000,
        source_id="ch_far",
        description=f"Order {far.order.number}",
        created_at=timezone.now() + timedelta(days=5),
    )

    result = settlements_match()

    match = SettlementMatchItem.objects.get(line=line).match
    assert match.method == MatchMethod.RULE and match.rule is not None
    assert items_of(match) == {f"payment {payment.pk}", f"line {line.pk}"}
    assert result.lines["rules"] == 1  # the one 5 days away is outside the 3-day window
    assert not SettlementMatchItem.objects.filter(payment=far).exists()


def test_a_rule_without_reference_and_a_tolerance_matches_a_near_amount():
    only_rules("Same amount within 2 days")
    MatchingRule.objects.filter(name="Same amount within 2 days").update(amount_tolerance=5)
    payment = stripe_payment("pi_6", amount=20_000)
    line = SettlementLineFactory.create(amount=20_003, source_id="ch_x")

    settlements_match()

    assert SettlementMatchItem.objects.get(line=line).match.items.filter(payment=payment).exists()


def test_a_line_that_fits_two_payments_stays_unmatched_and_so_do_both_payments():
    only_rules("Same amount within 2 days")
    first, second = stripe_payment("pi_a", amount=5_000), stripe_payment("pi_b", amount=5_000)
    line = SettlementLineFactory.create(amount=5_000, source_id="ch_ambiguous")

    result = settlements_match()

    assert result.lines["rules"] == 0
    assert not SettlementMatchItem.objects.filter(line=line).exists()
    assert not SettlementMatchItem.objects.filter(payment__in=[first, second]).exists()


def test_two_lines_that_fit_one_payment_are_both_left():
    only_rules("Same amount within 2 days")
    payment = stripe_payment("pi_c", amount=5_000)
    SettlementLineFactory.create_batch(2, amount=5_000)

    settlements_match()

    assert not SettlementMatchItem.objects.filter(payment=payment).exists()


def bank_line(amount: int, day: datetime) -> SettlementLine:
    return SettlementLineFactory.create(
        provider="bank-itau",
        kind="statement",
        provider_type="csv",
        amount=amount,
        fee=0,
        source_id="TED STRIPE",
        created_at=day.replace(hour=0, minute=0, second=0, microsecond=0),
    )


def test_a_bank_line_matches_the_one_payout_of_its_amount():
    day = NOW - timedelta(days=1)
    payout = PayoutFactory.create(amount=9_601, arrival_date=day.date())
    own_line = SettlementLineFactory.create(
        kind="payout", amount=-9_601, fee=0, payout_id=payout.provider_payout_id
    )
    line = bank_line(9_601, day)

    settlements_match()

    match = SettlementMatchItem.objects.get(line=line).match
    assert items_of(match) == {f"payout {payout.pk}", f"line {line.pk}", f"line {own_line.pk}"}
    assert SettlementMatch.objects.count() == 1


def test_one_bank_line_matches_several_payouts_of_a_day_whose_sum_it_is():
    day = NOW - timedelta(days=1)
    first = PayoutFactory.create(amount=10_000, arrival_date=day.date())
    second = PayoutFactory.create(amount=2_500, arrival_date=day.date())
    own_line = SettlementLineFactory.create(
        kind="payout", amount=-10_000, fee=0, payout_id=first.provider_payout_id
    )
    settlements_match()  # the first payout is matched to its own line first
    line = bank_line(12_500, day)

    settlements_match()

    match = SettlementMatchItem.objects.get(line=line).match
    assert items_of(match) == {
        f"payout {first.pk}",
        f"payout {second.pk}",
        f"line {line.pk}",
        f"line {own_line.pk}",
    }
    assert SettlementMatch.objects.count() == 1  # the payout line's old match was folded in


def test_each_exception_kind_is_made_once():
    old = NOW - timedelta(days=10)
    # unmatched_line: an old line nothing names.
    SettlementLineFactory.create(provider_line_id="txn_lonely", source_id="ch_?", created_at=old)
    # unmatched_payment: an old Stripe payment no line accounts for.
    lonely = stripe_payment("pi_lonely", amount=4_400)
    Payment.objects.filter(pk=lonely.pk).update(succeeded_at=old)
    # amount_mismatch and fee_mismatch: the line says 99.00 with a 5.00 fee; we have 100.00, 3.99.
    short = stripe_payment("pi_short", fee_amount=399, settlement_currency="BRL")
    charge_line("pi_short", provider_line_id="txn_short", amount=9_900, fee=500)
    # a payout whose lines do not add up.
    PayoutFactory.create(provider_payout_id="po_off", amount=1)
    charge_line("pi_po", provider_line_id="txn_in_po", payout_id="po_off", source_id="ch_z")
    # missing_payout: available 6 days ago, in no payout.
    SettlementLineFactory.create(
        provider_line_id="txn_unpaid", source_id="ch_y", available_at=NOW - timedelta(days=6)
    )
    # chargeback_fee: a dispute line with a 15.00 fee.
    SettlementLineFactory.create(
        provider_line_id="txn_dispute", kind="chargeback", amount=-10_000, fee=1_500, source_id="dp"
    )

    first = settlements_match()
    second = settlements_match()

    made = {
        (x.kind, x.provider_object_id)
        for x in ReconciliationException.objects.filter(status="open")
    }
    assert ("unmatched_line", "txn_lonely") in made
    assert ("unmatched_payment", "pi_lonely") in made
    assert ("amount_mismatch", "txn_short") in made
    assert ("fee_mismatch", "txn_short") in made
    assert ("amount_mismatch", "po_off") in made
    assert ("missing_payout", "txn_unpaid") in made
    assert ("chargeback_fee", "txn_dispute") in made
    assert second.exceptions_created == 0
    assert ReconciliationException.objects.count() == first.exceptions_created
    fee = ReconciliationException.objects.get(kind="fee_mismatch")
    assert fee.payment_id == short.pk and "R$ 5,00" in fee.detail and "R$ 3,99" in fee.detail
    assert "R$ 15,00" in ReconciliationException.objects.get(kind="chargeback_fee").detail
    # What the exception queue totals and a write-off starts from: the difference, signed, in
    # its currency, and the settlement line when the object is one.
    money = {
        x.kind + ":" + x.provider_object_id: (x.amount, x.currency, x.settlement_line_id)
        for x in ReconciliationException.objects.select_related("settlement_line")
    }
    short_line = SettlementLine.objects.get(provider_line_id="txn_short").pk
    assert money["fee_mismatch:txn_short"] == (101, "BRL", short_line)
    assert money["amount_mismatch:txn_short"] == (-100, "BRL", short_line)
    assert money["amount_mismatch:po_off"][:2] == (9_600, "BRL")
    assert money["amount_mismatch:po_off"][2] is None  # a payout, not a line
    assert money["unmatched_payment:pi_lonely"] == (4_400, "BRL", None)
    assert money["chargeback_fee:txn_dispute"][:2] == (1_500, "BRL")


def test_a_resolved_exception_is_not_made_again():
    SettlementLineFactory.create(
        provider_line_id="txn_old", source_id="ch_?", created_at=NOW - timedelta(days=9)
    )
    settlements_match()
    ReconciliationException.objects.update(status="resolved")

    assert settlements_match().exceptions_created == 0
    assert ReconciliationException.objects.count() == 1


def test_a_young_unmatched_line_is_not_an_exception_yet():
    SettlementLineFactory.create(source_id="ch_new", created_at=NOW - timedelta(days=1))

    assert settlements_match().exceptions.get("unmatched_line") == 0


def test_the_command_prints_a_summary_and_a_rerun_adds_nothing(capsys: Any):
    stripe_payment("pi_cmd")
    charge_line("pi_cmd")

    call_command("settlements_match")
    first = capsys.readouterr().out
    call_command("settlements_match")
    second = capsys.readouterr().out

    assert "1 matches, 1 lines matched" in first
    assert "0 matches, 0 lines matched" in second
    assert SettlementMatch.objects.count() == 1


def test_the_daily_import_job_runs_matching_after_importing(settings: Any):
    settings.STRIPE_ENABLED = False
    settings.ASAAS_ENABLED = False
    stripe_payment("pi_daily")
    charge_line("pi_daily")
    from payments.settlements.tasks import import_daily

    outcome = import_daily()

    assert outcome["matching"].startswith("1 matches")
    assert Payout.objects.count() == 0 and SettlementMatch.objects.count() == 1


def test_asaas_refund_and_chargeback_lines_match_through_the_payment_they_name():
    payment = PaymentFactory.create(succeeded=True)
    Payment.objects.filter(pk=payment.pk).update(provider="asaas", provider_payment_id="pay_7")
    refund = RefundFactory.create(payment=Payment.objects.get(pk=payment.pk), amount=2_500)
    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="pay_7:refund-1")
    dispute = Dispute.objects.create(
        payment=payment,
        provider="asaas",
        provider_dispute_id="pay_7:chargeback",
        amount=10_000,
        currency="BRL",
        opened_at=NOW,
    )
    asaas = {"provider": "asaas", "fee": 0, "source_id": "pay_7"}
    refund_line = SettlementLineFactory.create(kind="refund", amount=-2_500, **asaas)
    other_amount = SettlementLineFactory.create(kind="refund", amount=-1_000, **asaas)
    chargeback = SettlementLineFactory.create(kind="chargeback", amount=-10_000, **asaas)

    settlements_match()

    assert (
        SettlementMatchItem.objects.get(line=refund_line).match.items.filter(refund=refund).exists()
    )
    assert (
        SettlementMatchItem.objects.get(line=chargeback)
        .match.items.filter(dispute=dispute)
        .exists()
    )
    assert not SettlementMatchItem.objects.filter(line=other_amount).exists()


def test_a_rule_adds_an_unlinked_received_line_to_the_match_its_fee_line_made():
    only_rules("Same amount, order number in the reference, within 3 days")
    payment = PaymentFactory.create(succeeded=True)
    Payment.objects.filter(pk=payment.pk).update(provider="asaas", provider_payment_id="pay_8")
    asaas = {"provider": "asaas", "fee": 0}
    fee = SettlementLineFactory.create(kind="fee", amount=-199, source_id="pay_8", **asaas)
    received = SettlementLineFactory.create(
        amount=10_000, source_id="", description=f"Cobrança {payment.order.number}", **asaas
    )

    settlements_match()

    match = SettlementMatchItem.objects.get(payment_id=payment.pk).match
    assert items_of(match) == {f"payment {payment.pk}", f"line {fee.pk}", f"line {received.pk}"}
    assert SettlementMatch.objects.count() == 1


def test_an_imported_stripe_charge_line_names_its_payment_intent_and_matches_by_id(
    fake_stripe: Any,
):
    payment = stripe_payment("pi_e2e")
    fake_stripe.charges["ch_e2e"] = {"id": "ch_e2e", "object": "charge", "payment_intent": "pi_e2e"}
    fake_stripe.add_balance_transaction(
        "charge", 10_000, fee=399, source="ch_e2e", reporting_category="charge"
    )
    from payments.settlements.workflows import settlements_import_stripe

    settlements_import_stripe(kinds=("balance_transactions",))
    line = SettlementLine.objects.get(source_id="ch_e2e")
    assert line.raw["source"]["payment_intent"] == "pi_e2e"
    calls = fake_stripe.requests_to("/v1/balance_transactions", "GET")
    assert calls[0].form.get("expand[0]") == "data.source"

    result = settlements_match()

    assert result.matches["provider_id"] == 1
    match = SettlementMatchItem.objects.get(line=line).match
    assert items_of(match) == {f"payment {payment.pk}", f"line {line.pk}"}
