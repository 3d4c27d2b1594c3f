"""The whole flow through real HTTP: an API order is paid, shipped, tracked to delivery and the
customer is told at each step, all through the sandbox providers' signed webhooks."""

from __future__ import annotations

import time

import pytest
import requests
from django.core import mail

from accounts.access.api_keys import api_key_create
from integrations.deliveries.relay import deliver_due
from integrations.models import Delivery, DomainEvent, WebhookEvent
from integrations.webhooks.processing import process_due_webhooks
from notifications.models import Notification
from orders.models import Order, OrderStatus
from payments.models import PaymentStatus
from shipping.models import ShipmentStatus

ORDER = {
    "customer": {"email": "flow@example.test", "name": "Flávia Rocha", "phone": "+5511987654321"},
    "currency": "BRL",
    "payment_method": "card",
    "lines": [
        {"sku": "CAF-250", "description": "Coffee 250 g", "quantity": 2, "unit_amount": 4990}
    ],
    "shipping_amount": 1990,
}
NOTIFIED_STEPS = {
    "order_paid",
    "payment_receipt",
    "shipment_posted",
    "shipment_in_transit",
    "shipment_out_for_delivery",
    "shipment_delivered",
}


def drain_until_quiet(timeout: float = 60) -> None:
    """What the cluster's workers and sweepers do: run whatever is due, and wait for what will
    be due soon (a fact retried after its object is recorded), until no work is open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ran = process_due_webhooks(limit=1000) + deliver_due(limit=1000)
        open_work = (
            WebhookEvent.objects.filter(status__in=["received", "processing", "failed"]).exists()
            or Delivery.objects.filter(status__in=["pending", "running", "failed"]).exists()
        )
        if not ran and not open_work:
            return
        if not ran:
            time.sleep(0.1)
    raise AssertionError("the flow did not settle")


def assert_final_state(order: Order) -> None:
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    payment = order.payments.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_payment_id.startswith("sbx_pay_")
    shipment = order.shipments.get()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.tracking_code
    notifications = Notification.objects.filter(customer=order.customer)
    # Tracking facts are processed concurrently; one older than a fact already applied is
    # dropped by the shipment's watermark (the customer is not told "in transit" after "out for
    # delivery"). So: every step that happened is announced on WhatsApp (the rules' first channel
    # a provider carries here: no SMS provider; e-mail is the fallback), paid and delivered
    # always, and the steps that happened are in the carrier's order.
    steps = list(
        DomainEvent.objects.filter(type__startswith="shipment.", subject_id=str(shipment.pk))
        .exclude(type__in=["shipment.created", "shipment.label_purchased"])
        .order_by("id")
        .values_list("type", "occurred_at")
    )
    assert [at for _, at in steps] == sorted(at for _, at in steps)
    announced = {"order_paid"} | {t.replace(".", "_") for t, _ in steps}
    assert {"order_paid", "shipment_delivered"} <= announced
    for step in announced:
        channels = {n.channel for n in notifications if n.template == step}
        assert channels == {"whatsapp"}, step
    # The receipt (issue 15 item 6) is an e-mail-only rule on payment.succeeded.
    assert {n.channel for n in notifications if n.template == "payment_receipt"} == {"email"}
    assert {n.template for n in notifications} == announced | {"payment_receipt"}
    whatsapp = notifications.filter(channel="whatsapp")
    assert all(n.status == "read" for n in whatsapp), [n.status for n in whatsapp]
    assert not WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).exists()
    assert not Delivery.objects.exclude(status="succeeded").exists()
    kinds = set(DomainEvent.objects.filter(customer=order.customer).values_list("type", flat=True))
    assert {
        "order.placed",
        "payment.succeeded",
        "order.paid",
        "shipment.label_purchased",
        "shipment.delivered",
        "order.delivered",
        "notification.sent",
        "notification.read",
    } <= kinds


@pytest.mark.django_db(transaction=True)
def test_api_order_flows_to_delivery_with_the_cluster_in_sync_mode(live_server, settings):
    settings.SANDBOX_WEBHOOK_TARGET = live_server.url
    settings.SANDBOX_SEND_WEBHOOKS = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0  # a fact that beat its object is retried at once
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    _, raw_key = api_key_create(name="storefront", scopes=["orders:write"])
    response = requests.post(
        f"{live_server.url}/api/v1/orders/",
        json=ORDER,
        headers={"Authorization": f"Api-Key {raw_key}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    order = Order.objects.get(number=response.json()["number"])
    drain_until_quiet()
    assert_final_state(order)
    # WhatsApp went through: no e-mail fallback; the only e-mail is the receipt.
    assert Notification.objects.filter(channel="whatsapp").count() >= 2
    emails = Notification.objects.filter(channel="email")
    assert list(emails.values_list("template", flat=True)) == ["payment_receipt"]
    assert [m.to for m in mail.outbox] == [["flow@example.test"]]
    # Duplicated or replayed facts change nothing once settled.
    before = DomainEvent.objects.count()
    for event in WebhookEvent.objects.filter(status="processed"):
        from integrations.webhooks.processing import webhook_event_replay

        webhook_event_replay(event=event)
    drain_until_quiet()
    assert_final_state(order)
    assert DomainEvent.objects.count() == before
