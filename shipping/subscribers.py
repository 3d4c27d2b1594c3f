"""Reactions of shipping to other apps' events (run as Delivery rows, retried on failure).

Each is one call to a workflow in ``shipping.workflows``, which is idempotent: a redelivery
never opens a second shipment or buys a second label.
"""

from __future__ import annotations

from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent
from shipping.workflows import shipment_start_for_order


def ship_paid_order(event: DomainEvent) -> None:
    """order.paid -> the cheapest quoted shipment, then its label."""
    shipment_start_for_order(order_id=event.subject_id)


def buy_requested_label(event: DomainEvent) -> None:
    """shipment.label_requested (staff chose a quote) -> the shipment and label of that quote."""
    shipment_start_for_order(order_id=event.subject_id)


SUBSCRIBERS = [
    Subscriber(
        name="shipping.ship_paid_order",
        event_types=frozenset({"order.paid"}),
        handle=ship_paid_order,
        atomic=False,
    ),
    Subscriber(
        name="shipping.buy_requested_label",
        event_types=frozenset({"shipment.label_requested"}),
        handle=buy_requested_label,
        atomic=False,
    ),
]
