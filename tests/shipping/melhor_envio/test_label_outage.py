"""Issue 12 item 5: a carrier outage queues the label purchase and retries it; nothing is lost
and exactly one label is bought. The fake Melhor Envio answers 503 (as during an outage), then
recovers; the purchase asked for from the order page (``shipment_label_request``) is a
Delivery row that fails, waits its backoff, and succeeds on the retry."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery, DomainEvent
from shipping.models import Shipment, ShipmentStatus, ShippingQuote
from shipping.services import shipment_label_request
from shipping.workflows import shipment_start_for_order
from tests.shipping.melhor_envio.test_shipping_address import ADDRESS, ORDER, _place
from tests.support.fake_melhor_envio import FakeMelhorEnvio

OUTAGES = {
    "down before anything is sent": ("GET", "/me/orders/search", ("503", "503", "503")),
    "down at checkout, after the cart": ("POST", "/me/shipment/checkout", ("503",)),
}


@pytest.mark.django_db
@pytest.mark.parametrize("outage", list(OUTAGES), ids=list(OUTAGES))
def test_an_outage_queues_the_label_and_the_retry_buys_exactly_one(
    settings: Any,
    fake_me: FakeMelhorEnvio,
    django_capture_on_commit_callbacks: Any,
    outage: str,
) -> None:
    settings.SHIPPING_CARRIER = "melhor_envio"
    order = _place({**ORDER, "shipping_address": ADDRESS})
    quote = ShippingQuote.objects.create(
        order=order,
        carrier="melhor_envio",
        service="Correios SEDEX #2",
        service_id="2",
        amount=4290,
        currency="BRL",
        days=2,
        source="carrier",
    )
    method, path, faults = OUTAGES[outage]
    fake_me.fail(method, path, *faults)

    with django_capture_on_commit_callbacks(execute=True):
        shipment_label_request(quote=quote)

    assert DomainEvent.objects.filter(type="shipment.label_requested").count() == 1
    delivery = Delivery.objects.get(subscriber="shipping.buy_requested_label")
    assert delivery.status == Delivery.Status.FAILED
    assert "503" in delivery.last_error
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > timezone.now()
    assert fake_me.labels_bought == 0
    [shipment] = Shipment.objects.filter(order=order)
    assert shipment.status == ShipmentStatus.PENDING  # kept, with the chosen service
    assert (shipment.carrier, shipment.service, shipment.cost_amount) == (
        "melhor_envio",
        "Correios SEDEX #2",
        4290,
    )

    # Not due yet: a run now does nothing.
    assert delivery_run(delivery_id=delivery.pk).status == Delivery.Status.FAILED
    # The carrier is back and the backoff has passed: the retry buys the label.
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert delivery_run(delivery_id=delivery.pk).status == Delivery.Status.SUCCEEDED
    shipment_start_for_order(order_id=order.pk)  # a duplicate run later changes nothing

    assert fake_me.labels_bought == 1
    assert len(fake_me.orders) == 1
    [me_order] = fake_me.orders.values()
    assert me_order["service_id"] == 2
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert shipment.tracking_code == me_order["self_tracking"]
    assert Shipment.objects.filter(order=order).count() == 1
