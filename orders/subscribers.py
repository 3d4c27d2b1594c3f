"""Reactions of orders to other apps' events (run as Delivery rows, retried on failure)."""

from __future__ import annotations

from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent
from orders.workflows import order_storefront_fulfillment_report


def report_fulfillment_to_storefront(event: DomainEvent) -> None:
    """shipment.label_purchased -> the tracking number written back to the order's storefront."""
    order_storefront_fulfillment_report(domain_event_id=event.pk)


SUBSCRIBERS = [
    Subscriber(
        name="orders.report_fulfillment_to_storefront",
        event_types=frozenset({"shipment.label_purchased"}),
        handle=report_fulfillment_to_storefront,
        atomic=False,
    ),
]
