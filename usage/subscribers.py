"""Reactions of usage to other apps' events (run as Delivery rows, retried on failure)."""

from __future__ import annotations

from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent
from usage.services import usage_aggregates_after_merge


def rebuild_merged_customers_usage(event: DomainEvent) -> None:
    """customer.merged -> the kept customer's usage aggregates include the merged ones' events."""
    usage_aggregates_after_merge(event=event)


SUBSCRIBERS = [
    Subscriber(
        name="usage.rebuild_merged_customers_usage",
        event_types=frozenset({"customer.merged"}),
        handle=rebuild_merged_customers_usage,
    ),
]
