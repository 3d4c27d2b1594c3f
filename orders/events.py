from __future__ import annotations

from dataclasses import dataclass

from integrations.events import EventType, MoneyPayload, Payload, register_event_types


@dataclass(frozen=True, kw_only=True)
class OrderPayload(Payload):
    number: str


@dataclass(frozen=True, kw_only=True)
class OrderPlacedPayload(OrderPayload, MoneyPayload):
    items: int


@dataclass(frozen=True, kw_only=True)
class OrderReasonPayload(OrderPayload):
    reason: str


@dataclass(frozen=True, kw_only=True)
class StorefrontFulfilledPayload(OrderPayload):
    """A bought label's tracking number written back to the storefront the order came from."""

    source: str
    tracking_code: str
    company: str
    outcome: str
    """sent, already there (an earlier attempt got through), or nothing left to fulfil."""


register_event_types(
    EventType(
        "order.placed",
        "Order placed",
        "{number}: {money}, {items} item(s)",
        payload=OrderPlacedPayload,
    ),
    EventType("order.paid", "Order paid", "{number} paid", payload=OrderPayload),
    EventType(
        "order.fulfilling", "Order in fulfilment", "{number} being prepared", payload=OrderPayload
    ),
    EventType("order.shipped", "Order shipped", "{number} shipped", payload=OrderPayload),
    EventType("order.delivered", "Order delivered", "{number} delivered", payload=OrderPayload),
    EventType(
        "order.cancelled",
        "Order cancelled",
        "{number} cancelled: {reason}",
        payload=OrderReasonPayload,
    ),
    EventType("order.refunded", "Order refunded", "{number} fully refunded", payload=OrderPayload),
    EventType("order.flagged", "Order flagged", "{number}: {reason}", payload=OrderReasonPayload),
    EventType(
        "order.storefront_fulfilled",
        "Tracking sent to the storefront",
        "{number}: {company} {tracking_code} to {source}: {outcome}",
        payload=StorefrontFulfilledPayload,
    ),
)
