"""The order page as the hub, clicked in Chromium (issue 11 items 3 and 5): an order with a
payment, a refund, a dispute, a shipment with tracking and a message; through to the payment
and back through the payment page's order link; a shipment link; and what each role is shown."""

from __future__ import annotations

from urllib.parse import urlparse

from django.urls import reverse

from payments.models import Dispute, Payment, Refund
from shipping.models import Shipment, TrackingEvent
from tests.browser.conftest import Browser
from tests.factories import make_hub_order, make_staff


def _order_path(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def test_support_works_an_order_from_its_hub_and_comes_back_from_the_payment(browser: Browser):
    order = make_hub_order()
    payment = Payment.objects.get(order=order, status="succeeded")
    shipment = Shipment.objects.filter(order=order, tracking_events__isnull=False).first()
    assert shipment is not None
    browser.sign_in(make_staff("support", role="support"))

    browser.visit(_order_path(order))
    browser.shot("order page")
    browser.driver.execute_script("document.getElementById('order-hub').scrollIntoView()")
    browser.shot("order hub sections")
    assert "Rua Augusta 1500" in browser.text("#hub-address")
    assert "R$ 120,00" in browser.text("#hub-payments")
    assert "R$ 10,00" in browser.text("#hub-refunds")
    shipments = browser.text("#hub-shipments")
    assert shipment.tracking_code in shipments
    for scan in TrackingEvent.objects.filter(shipment=shipment):
        assert scan.carrier_code in shipments and scan.location in shipments
    assert "shipment_posted" in browser.text("#hub-messages")
    # Support sees the dispute, but not a link to finance's page.
    dispute = Dispute.objects.get()
    assert dispute.provider_dispute_id in browser.text("#hub-disputes")
    assert not browser.has("#hub-disputes a.hub-link")
    assert browser.has("#timeline tr.timeline-entry")

    browser.click("#hub-payments a.hub-link")
    browser.shot("payment page")
    assert browser.path == reverse("admin:payments_payment_change", args=[payment.pk])
    assert browser.text("#order-link").casefold() == f"order {order.number}".casefold()

    browser.click("#order-link")
    browser.shot("back on the order")
    assert urlparse(browser.path).path == _order_path(order)

    browser.click("#hub-shipments a.hub-link")
    browser.shot("shipment page")
    assert browser.path == reverse("admin:shipping_shipment_change", args=[shipment.pk])
    assert shipment.tracking_code in browser.text("#content")
    browser.click("#order-link")
    assert urlparse(browser.path).path == _order_path(order)


def test_finance_clicks_through_to_the_dispute_and_the_refund(browser: Browser):
    order = make_hub_order()
    dispute, refund = Dispute.objects.get(), Refund.objects.get()
    browser.sign_in(make_staff("finance", role="finance"))

    browser.visit(_order_path(order))
    browser.shot("order hub as finance")
    browser.click("#hub-disputes a.hub-link")
    browser.shot("dispute page")
    assert browser.path == reverse("admin:payments_dispute_change", args=[dispute.pk])
    browser.click("#order-link")

    browser.click("#hub-refunds a.hub-link")
    browser.shot("refund page")
    assert browser.path == reverse("admin:payments_refund_change", args=[refund.pk])
    browser.click("#order-link")
    browser.shot("back on the order from the refund")
    assert urlparse(browser.path).path == _order_path(order)


def test_ops_is_not_shown_links_it_cannot_open(browser: Browser):
    order = make_hub_order()
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(_order_path(order))
    browser.shot("order hub as ops")
    dispute_url = reverse("admin:payments_dispute_change", args=[Dispute.objects.get().pk])
    hrefs = {a.get_attribute("href") for a in browser.find_all("#content a")}
    assert browser.base_url + dispute_url not in hrefs
    assert browser.has("#hub-payments a.hub-link")
    # The scan links open for ops, as every link the page shows.
    browser.click("#hub-shipments tr.hub-detail-row a.hub-link")
    browser.shot("tracking scan page")
    assert "/admin/shipping/trackingevent/" in browser.path
