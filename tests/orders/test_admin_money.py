"""Order and shipment pages show amounts as money in the order's currency, never minor units."""

from __future__ import annotations

from django.urls import reverse

from integrations.money import format_money
from tests.factories import make_paid_payment


def test_order_page_shows_its_amounts_as_money(admin_client):
    order = make_paid_payment(amount=123_456).order
    line = order.lines.first()

    html = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert format_money(order.total_amount, "BRL") == "R$ 1.234,56"
    assert "R$ 1.234,56" in html
    assert format_money(order.subtotal_amount, order.currency) in html
    if line is not None:
        assert format_money(line.unit_amount, order.currency) in html
    for raw in {order.subtotal_amount, order.total_amount}:
        assert f">{raw}<" not in html
    assert 'name="total_amount"' not in html and 'name="subtotal_amount"' not in html
