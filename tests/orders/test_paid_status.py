"""Order paid status: amount_paid kept by order_record_money when a payment succeeds or a refund
completes (several payments per order), over-payment on the reconciliation list, shown on the
order admin (column and filter) and in the order API."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from orders.exceptions import OrderCurrencyMismatch
from orders.models import OrderStatus, PaidStatus, paid_status_for
from orders.services import order_record_money
from payments.models import ReconciliationException
from payments.services import (
    payment_create,
    payment_mark_succeeded,
    refund_approve,
    refund_mark_processing,
    refund_mark_succeeded,
    refund_request,
)
from tests.factories import make_order, make_paid_payment, make_staff

pytestmark = pytest.mark.django_db
Kind = ReconciliationException.Kind


def _staff(username):
    from accounts.models import User

    return User.objects.filter(username=username).first() or make_staff(username)


def _pay(order, amount):
    payment = payment_create(order=order, provider="sandbox", method="card", amount=amount)
    return payment_mark_succeeded(payment=payment)


def _refund(payment, amount):
    refund = refund_request(
        payment=payment, requested_by=_staff("support-ps"), reason="other", amount=amount
    )
    refund = refund_approve(refund=refund, approver=_staff("finance-ps"))
    refund = refund_mark_processing(refund=refund, provider_refund_id=f"re_{refund.pk}")
    return refund_mark_succeeded(refund=refund)


@pytest.mark.parametrize(
    ("paid", "expected"),
    [
        (0, PaidStatus.UNPAID),
        (1, PaidStatus.PARTIALLY_PAID),
        (9_999, PaidStatus.PARTIALLY_PAID),
        (10_000, PaidStatus.PAID),
        (10_001, PaidStatus.OVER_PAID),
    ],
)
def test_paid_status_follows_amount_paid_against_the_total(paid, expected) -> None:
    assert paid_status_for(amount_paid=paid, total_amount=10_000) == expected


def test_a_partial_payment_leaves_the_order_placed_and_the_second_pays_it() -> None:
    order = make_order(amount=10_000)
    assert (order.amount_paid, order.paid_status) == (0, PaidStatus.UNPAID)

    _pay(order, 4_000)
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (4_000, PaidStatus.PARTIALLY_PAID)
    assert order.status == OrderStatus.PLACED

    second = payment_create(order=order, provider="sandbox", method="pix")
    assert second.amount == 6_000  # what is still due
    payment_mark_succeeded(payment=second)
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (10_000, PaidStatus.PAID)
    assert order.status == OrderStatus.PAID
    assert not ReconciliationException.objects.exists()


def test_over_payment_goes_to_the_exception_queue_once() -> None:
    order = make_order(amount=10_000)
    _pay(order, 6_000)
    over = _pay(order, 6_000)

    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (12_000, PaidStatus.OVER_PAID)
    assert order.status == OrderStatus.PAID
    (exception,) = ReconciliationException.objects.all()
    assert exception.kind == Kind.OVER_PAYMENT
    assert exception.payment == over
    assert "R$ 20,00 over-paid" in exception.detail


def test_paying_a_paid_order_twice_is_flagged_as_paid_twice_not_also_over_payment() -> None:
    payment = make_paid_payment(amount=5_000)
    order = payment.order
    order.status = OrderStatus.PLACED  # a second charge created before the first was paid
    order.save(update_fields=["status"])
    late = payment_create(order=order, provider="sandbox", method="card", amount=5_000)
    order.status = OrderStatus.PAID
    order.save(update_fields=["status"])

    payment_mark_succeeded(payment=late)

    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (10_000, PaidStatus.OVER_PAID)
    assert list(ReconciliationException.objects.values_list("kind", flat=True)) == [Kind.PAID_TWICE]


def test_a_completed_refund_lowers_amount_paid() -> None:
    payment = make_paid_payment(amount=8_000)
    order = payment.order
    assert (order.amount_paid, order.paid_status) == (8_000, PaidStatus.PAID)

    _refund(payment, 3_000)
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (5_000, PaidStatus.PARTIALLY_PAID)

    _refund(payment, 5_000)
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (0, PaidStatus.UNPAID)
    assert order.status == OrderStatus.REFUNDED


def test_a_refund_not_yet_completed_leaves_amount_paid_alone() -> None:
    payment = make_paid_payment(amount=8_000)
    refund = refund_request(
        payment=payment, requested_by=make_staff("support-pn"), reason="other", amount=3_000
    )
    refund_approve(refund=refund, approver=make_staff("finance-pn"))
    payment.order.refresh_from_db()
    assert payment.order.amount_paid == 8_000


def test_money_in_another_currency_is_refused_and_nothing_changes() -> None:
    order = make_order(amount=10_000)
    with pytest.raises(OrderCurrencyMismatch):
        order_record_money(order=order, received=10_000, currency="USD")
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (0, PaidStatus.UNPAID)


def test_the_order_admin_shows_amount_paid_and_filters_by_paid_status(admin_client) -> None:
    partial = make_order(amount=10_000)
    _pay(partial, 2_500)
    paid = make_paid_payment(amount=7_000).order
    url = reverse("admin:orders_order_changelist")

    everything = admin_client.get(url).content.decode()
    assert "Amount paid" in everything and "R$ 25,00" in everything
    assert "Partially paid" in everything

    filtered = admin_client.get(url, {"paid_status": "partially_paid"}).content.decode()
    assert partial.number in filtered
    assert paid.number not in filtered

    page = admin_client.get(reverse("admin:orders_order_change", args=[partial.pk]))
    assert "R$ 25,00" in page.content.decode()


def test_the_order_api_carries_amount_paid_and_paid_status() -> None:
    cache.clear()
    order = make_order(amount=10_000)
    _pay(order, 2_500)
    _, raw = api_key_create(name="storefront", scopes=["orders:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    body = client.get(f"/api/v1/orders/{order.number}/").json()

    assert body["amount_paid"] == 2_500
    assert body["paid_status"] == "partially_paid"
    assert body["total_amount"] == 10_000
