from __future__ import annotations

from typing import Any

import pytest

from integrations.deliveries.registry import get_subscriber
from integrations.exceptions import SwitchboardError
from integrations.models import DomainEvent
from orders.models import Order, OrderStatus
from orders.services import order_mark_refunded
from shipping.carriers.base import QuoteRequest
from shipping.carriers.sandbox.adapter import SandboxCarrier, sandbox_tracking_code
from shipping.carriers.sandbox.webhooks import endpoint
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_cancel, shipment_create
from shipping.subscribers import ship_paid_order
from tests.support.shipping import EmitRecorder, deliver_event


def _paid_event(order: Order) -> DomainEvent:
    return DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))


def _economy_price(order: Order) -> int:
    quotes = SandboxCarrier().quote(
        request=QuoteRequest(
            reference=f"order:{order.pk}",
            order_number=order.number,
            items=1,
            declared_amount=order.total_amount,
            currency=order.currency,
        )
    )
    return min(quote.amount for quote in quotes)


def test_the_subscriber_is_registered_for_order_paid() -> None:
    subscriber = get_subscriber("shipping.ship_paid_order")

    assert subscriber is not None
    assert subscriber.handle is ship_paid_order
    assert subscriber.event_types == frozenset({"order.paid"})
    assert subscriber.atomic is False  # waits on the carrier outside any transaction


def test_order_paid_ships_with_the_cheapest_quote_and_buys_the_label_once(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    event = _paid_event(paid_order)

    ship_paid_order(event)
    ship_paid_order(event)  # the delivery ran again

    shipment = Shipment.objects.get(order=paid_order)
    assert shipment.carrier == "sandbox"
    assert shipment.service == "economy"
    assert shipment.cost_amount == _economy_price(paid_order)
    assert shipment.cost_currency == paid_order.currency
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert shipment.tracking_code == sandbox_tracking_code(f"shipment:{shipment.pk}")
    assert shipment.provider_shipment_id.startswith("sbx_shp_")
    assert shipment.label_url
    assert len(emitted.calls) == 1  # one label bought, one set of tracking webhooks
    assert DomainEvent.objects.filter(type="shipment.created").count() == 1
    assert DomainEvent.objects.filter(type="shipment.label_purchased").count() == 1
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.FULFILLING


def test_a_retry_buys_the_label_of_the_pending_shipment(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    pending = shipment_create(order=paid_order, carrier="sandbox", service="express")

    ship_paid_order(_paid_event(paid_order))

    assert list(Shipment.objects.filter(order=paid_order)) == [pending]
    pending.refresh_from_db()
    assert pending.status == ShipmentStatus.LABEL_PURCHASED
    assert pending.service == "express"
    assert emitted.calls[0][1][0].data["reference"] == f"shipment:{pending.pk}"


def test_a_cancelled_shipment_is_replaced(paid_order: Order, emitted: EmitRecorder) -> None:
    cancelled = shipment_create(order=paid_order, carrier="sandbox")
    shipment_cancel(shipment=cancelled, reason="Wrong address")

    ship_paid_order(_paid_event(paid_order))

    fresh = Shipment.objects.exclude(pk=cancelled.pk).get(order=paid_order)
    assert fresh.status == ShipmentStatus.LABEL_PURCHASED


def test_an_order_refunded_meanwhile_is_not_shipped(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    order_mark_refunded(order=paid_order)

    ship_paid_order(_paid_event(paid_order))

    assert not Shipment.objects.filter(order=paid_order).exists()
    assert emitted.calls == []


def test_a_carrier_outage_leaves_nothing_and_the_retry_ships(
    settings: Any, paid_order: Order, emitted: EmitRecorder
) -> None:
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0
    event = _paid_event(paid_order)

    with pytest.raises(SwitchboardError):
        ship_paid_order(event)
    assert not Shipment.objects.filter(order=paid_order).exists()

    settings.SANDBOX_CHAOS_FAILURE_RATE = 0.0
    ship_paid_order(event)
    assert Shipment.objects.get(order=paid_order).status == ShipmentStatus.LABEL_PURCHASED


def test_paid_to_delivered_through_the_sandbox_webhooks(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    ship_paid_order(_paid_event(paid_order))

    for event in reversed(emitted.events):  # the worst arrival order
        deliver_event(endpoint, event)

    shipment = Shipment.objects.get(order=paid_order)
    assert shipment.status == ShipmentStatus.DELIVERED
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.DELIVERED
