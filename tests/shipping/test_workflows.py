"""The shipping workflow the subscriber calls (issue 9, item 6): called directly it does what
the ``order.paid`` subscriber path (a Delivery row run by the relay) does, idempotently."""

from __future__ import annotations

from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery
from orders.models import Order, OrderStatus
from shipping.models import Shipment, ShipmentStatus
from shipping.workflows import shipment_start_for_order
from tests.factories import make_paid_payment
from tests.support.backstop import types_of
from tests.support.shipping import EmitRecorder


def _run_subscriber(order: Order) -> Delivery:
    delivery = Delivery.objects.get(
        subscriber="shipping.ship_paid_order", event__subject_id=str(order.pk)
    )
    return delivery_run(delivery_id=delivery.pk)


def _state(shipment: Shipment) -> tuple[object, ...]:
    return (
        shipment.status,
        shipment.carrier,
        shipment.service,
        shipment.cost_amount,
        bool(shipment.tracking_code and shipment.label_url),
        types_of(shipment),
    )


def test_shipping_directly_is_what_the_order_paid_subscriber_does(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    other = make_paid_payment(customer=paid_order.customer).order

    shipment_start_for_order(order_id=paid_order.pk)
    delivery = _run_subscriber(other)

    assert delivery.status == Delivery.Status.SUCCEEDED
    direct = Shipment.objects.get(order=paid_order)
    via = Shipment.objects.get(order=other)
    assert direct.status == ShipmentStatus.LABEL_PURCHASED
    assert _state(direct) == _state(via)
    assert direct.tracking_code != via.tracking_code
    for order in (paid_order, other):
        order.refresh_from_db()
        assert order.status == OrderStatus.FULFILLING

    # The subscriber for the order shipped directly, and the workflow again: nothing more.
    assert _run_subscriber(paid_order).status == Delivery.Status.SUCCEEDED
    shipment_start_for_order(order_id=other.pk)
    assert Shipment.objects.filter(order__in=[paid_order, other]).count() == 2
    assert len(emitted.calls) == 2  # one label each
