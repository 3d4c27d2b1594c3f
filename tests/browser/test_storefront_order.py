"""Support finds an order pulled from Shopify by its Shopify order id, clicking in Chromium, and
sees where it came from on the order page (issue 12 item 8)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from orders.models import Order
from tests.browser.conftest import Browser
from tests.factories import make_order, make_staff

ORDERS = reverse("admin:orders_order_changelist")


def test_support_finds_a_shopify_order_by_its_shopify_id(browser: Browser, settings: Any):
    settings.SHOPIFY_ENABLED = True
    make_order()  # another order, never found
    order = make_order()
    Order.objects.filter(pk=order.pk).update(source="shopify", external_id="820982911946154508")
    browser.sign_in(make_staff("support", role="support"))

    browser.visit(ORDERS)
    browser.type("#searchbar", "820982911946154508")
    browser.click('#changelist-search input[type="submit"]')
    browser.shot("found by shopify id")
    rows = [row.text for row in browser.find_all("#result_list tbody th.field-number")]
    assert rows == [order.number]

    browser.click("#result_list tbody th.field-number a")
    browser.shot("order page")
    assert "820982911946154508" in browser.text(".field-external_id")
    assert "shopify" in browser.text(".field-source")
