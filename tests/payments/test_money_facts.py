"""payment_record_money (fee, net, authorised, captured: idempotent, refusing impossible facts),
the sandbox's money facts, and two payments of one order succeeding at once under the order's
row lock (neither is lost from amount_paid)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.models import DomainEvent
from orders.models import OrderStatus, PaidStatus
from payments.exceptions import PaymentNotAllowed
from payments.models import Payment, PaymentStatus, ReconciliationException
from payments.money_facts import payment_record_money
from payments.services import payment_create, payment_mark_succeeded
from payments.workflows import payment_fetch_money_facts
from tests.factories import make_order, make_paid_payment
from tests.payments.test_refund_execution import _at_once


@pytest.mark.django_db
def test_money_facts_are_recorded_once_and_only_those_given() -> None:
    payment = make_paid_payment(amount=10_000)
    payment_record_money(
        payment=payment, fee_amount=350, net_amount=9_650, settlement_currency="brl"
    )
    payment_record_money(payment=payment, amount_authorized=10_000, amount_captured=10_000)
    payment_record_money(
        payment=payment, fee_amount=350, net_amount=9_650, settlement_currency="BRL"
    )

    payment.refresh_from_db()
    assert (payment.fee_amount, payment.net_amount, payment.settlement_currency) == (
        350,
        9_650,
        "BRL",
    )
    assert (payment.amount_authorized, payment.amount_captured) == (10_000, 10_000)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "facts",
    [
        {"fee_amount": -1, "net_amount": 10_001, "settlement_currency": "BRL"},
        {"fee_amount": 100, "net_amount": 9_900},  # no currency
        {"amount_authorized": 5_000, "amount_captured": 6_000},
        {"amount_captured": -5},
    ],
)
def test_impossible_money_facts_are_refused_and_nothing_is_written(facts) -> None:
    payment = make_paid_payment(amount=10_000)
    with pytest.raises(PaymentNotAllowed):
        payment_record_money(payment=payment, **facts)
    payment.refresh_from_db()
    assert payment.fee_amount is None and payment.amount_captured is None


@pytest.mark.django_db
def test_the_sandbox_reports_its_fee_on_a_succeeded_payment_only() -> None:
    order = make_order(amount=10_000)
    payment = payment_create(
        order=order, provider="sandbox", method="card", provider_payment_id="sbx_pay_fees"
    )
    payment_fetch_money_facts(payment_id=payment.pk)
    payment.refresh_from_db()
    assert payment.fee_amount is None

    payment_mark_succeeded(payment=payment)
    payment_fetch_money_facts(payment_id=payment.pk)
    payment.refresh_from_db()
    assert (payment.fee_amount, payment.net_amount) == (299 + 39, 10_000 - 338)
    assert (payment.amount_authorized, payment.amount_captured) == (10_000, 10_000)


@pytest.mark.django_db(transaction=True)
def test_two_payments_of_one_order_succeeding_at_once_both_count(settings) -> None:
    settings.SANDBOX_SEND_WEBHOOKS = False
    order = make_order(amount=10_000)
    first = payment_create(order=order, provider="sandbox", method="pix", amount=6_000)
    second = payment_create(order=order, provider="sandbox", method="card", amount=6_000)

    results = _at_once(
        lambda: payment_mark_succeeded(payment=first),
        lambda: payment_mark_succeeded(payment=second),
    )

    assert not [r for r in results if isinstance(r, BaseException)], results
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (12_000, PaidStatus.OVER_PAID)
    assert order.status != OrderStatus.PLACED  # paid once (then shipping moved it on)
    assert DomainEvent.objects.filter(type="order.paid", subject_id=str(order.pk)).count() == 1
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 2
    assert list(ReconciliationException.objects.values_list("kind", flat=True)) == [
        ReconciliationException.Kind.OVER_PAYMENT
    ]


@pytest.mark.django_db
def test_the_payment_page_shows_fee_net_and_captured_as_money(admin_client) -> None:
    payment = make_paid_payment(amount=10_000)
    payment_record_money(
        payment=payment,
        fee_amount=350,
        net_amount=9_650,
        settlement_currency="BRL",
        amount_authorized=10_000,
        amount_captured=10_000,
    )

    html = admin_client.get(
        reverse("admin:payments_payment_change", args=[payment.pk])
    ).content.decode()

    assert "Provider fee" in html and "R$ 3,50" in html
    assert "Net" in html and "R$ 96,50" in html
    assert "Amount captured" in html
    assert ">350<" not in html and ">9650<" not in html
