"""The order's admin page says how its latest payment ended and, when it failed, why."""

from __future__ import annotations

import pytest
from django.urls import reverse

from payments.models import PaymentMethod
from payments.services import payment_create, payment_mark_failed
from tests.factories import make_order

pytestmark = pytest.mark.django_db


def _page(client, admin_user, order) -> str:
    client.force_login(admin_user)
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_declined_payment_shows_its_reason_on_the_order(client, admin_user):
    order = make_order(payment_method=PaymentMethod.CARD)
    payment = payment_create(order=order, provider="asaas", method=PaymentMethod.CARD)
    payment_mark_failed(payment=payment, reason="Asaas: the card capture was refused.")

    page = _page(client, admin_user, order)

    assert "Latest payment" in page
    assert "Failed via asaas" in page
    assert "Asaas: the card capture was refused." in page
    assert reverse("admin:payments_payment_change", args=[payment.pk]) in page


def test_only_the_latest_payment_counts(client, admin_user):
    order = make_order(payment_method=PaymentMethod.CARD)
    first = payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)
    payment_mark_failed(payment=first, reason="card_declined: insufficient funds")
    payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)

    page = _page(client, admin_user, order)
    # The "Latest payment" field; the hub and the timeline below it keep the whole history.
    latest = page.split("field-latest_payment", 1)[1].split('id="hub-address"', 1)[0]

    assert "Pending via sandbox" in latest
    assert "insufficient funds" not in latest


def test_the_reason_is_escaped(client, admin_user):
    order = make_order(payment_method=PaymentMethod.CARD)
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)
    payment_mark_failed(payment=payment, reason="<script>alert(1)</script>")

    page = _page(client, admin_user, order)

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_order_without_a_payment_says_so(client, admin_user):
    order = make_order()

    assert "Latest payment" in _page(client, admin_user, order)
