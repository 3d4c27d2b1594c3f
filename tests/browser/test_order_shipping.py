"""Issue 12 item 5 on the order page, clicked in Chromium: ops buys a label with a chosen quote,
then voids it; support sees the quotes but no button, and its POST is refused."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from integrations.money import format_money
from orders.models import Order
from shipping.models import Shipment, ShipmentStatus, ShippingQuote
from shipping.services import shipment_cancel
from tests.browser.conftest import Browser
from tests.factories import make_paid_payment, make_staff


def _order_with_quotes() -> tuple[Order, ShippingQuote, ShippingQuote]:
    order = make_paid_payment().order
    for shipment in Shipment.objects.filter(order=order):  # order.paid shipped it already
        shipment_cancel(shipment=shipment, reason="Customer asked for express")
    economy, express = (
        ShippingQuote.objects.create(
            order=order,
            carrier="sandbox",
            service=service,
            amount=amount,
            currency=order.currency,
            days=days,
            source="carrier",
        )
        for service, amount, days in (("economy", 1890, 8), ("express", 3490, 2))
    )
    return order, economy, express


def _page(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def test_ops_buys_a_label_with_a_quote_then_voids_it(browser: Browser) -> None:
    order, economy, express = _order_with_quotes()
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(_page(order))
    browser.shot("order page with quotes")
    assert len(browser.find_all("tr.order-quote")) == 2
    browser.click(f"#buy-label-{express.pk}")
    browser.shot("after buying")

    shipment = Shipment.objects.get(order=order, status=ShipmentStatus.LABEL_PURCHASED)
    assert (shipment.carrier, shipment.service, shipment.cost_amount) == (
        "sandbox",
        "express",
        3490,
    )
    price = format_money(3490, order.currency)
    assert browser.path == _page(order)
    assert browser.messages() == [
        f"Label bought: sandbox express for {price}, tracking code {shipment.tracking_code}."
    ]
    assert browser.has("tr.order-quote.chosen .chosen-mark")
    express.refresh_from_db()
    assert express.chosen
    assert not browser.has(f"#buy-label-{economy.pk}")  # one open shipment at a time

    browser.click(f"#void-label-{shipment.pk}")
    browser.shot("after voiding")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    assert browser.messages() == [
        f"Label voided: sandbox {shipment.tracking_code} ({price}); the shipment is cancelled."
    ]
    assert browser.has(f"#buy-label-{economy.pk}")  # may buy again


def test_support_sees_the_quotes_but_no_button_and_may_not_post(browser: Browser) -> None:
    order, economy, _ = _order_with_quotes()
    support = make_staff("support", role="support")
    browser.sign_in(support)

    browser.visit(_page(order))
    browser.shot("support on the order page")

    assert len(browser.find_all("tr.order-quote")) == 2
    assert not browser.has("input[value='Buy label']")
    assert not browser.has("input[value='Void label']")
    client = Client()
    client.force_login(support)
    buy = reverse("admin:orders_order_shipping_buy", args=[order.pk])
    assert client.post(buy, {"quote": economy.pk}).status_code == 403
    assert not Shipment.objects.filter(order=order).exclude(status="cancelled").exists()
