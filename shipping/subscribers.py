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


SUBSCRIBERS = [
    Subscriber(
        name="shipping.ship_paid_order",
        event_types=frozenset({"order.paid"}),
        handle=ship_paid_order,
        atomic=False,
    ),
]
