"""The storefronts' fact: what a storefront (Shopify) says an order is, and the one function
applying it.

A storefront's webhook module verifies a delivery and maps the order it carries to a
``StorefrontOrderFact`` (money already in minor units, times in UTC); ``storefront_order_fact_apply``
places the order through the same services as the orders API (customer find-or-create by
e-mail, ``order_place`` with the shipping address) the first time the storefront's order id is
seen, whatever topic brings it, and afterwards applies only versions newer than the one it
holds (``Order.external_updated_at``): a late or repeated webhook changes nothing.

Statuses follow the storefront through the order's own transitions: paid there -> ``order.paid``
(which starts shipping); cancelled there -> ``order_cancel`` while unpaid, else the order is
flagged (a paid order is refunded, never just cancelled: a person refunds it and stops the
shipment); refunded there -> flagged. A storefront total that differs from the one our services
compute (taxes not included in prices, duties, tips) is flagged, never silently taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.customers.services import customer_find_or_create
from accounts.models import Customer
from integrations.facts import FactOutcome
from integrations.money import format_money
from integrations.webhooks.registry import MalformedWebhook
from orders.exceptions import OrderNotAllowed
from orders.models import Order, OrderStatus
from orders.services import (
    OrderLineInput,
    ShippingAddress,
    order_cancel,
    order_flag,
    order_mark_paid,
    order_place,
    order_storefront_sync,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StorefrontOrderFact:
    """One version of a storefront's order, in our units."""

    source: str
    external_id: str
    name: str
    """The storefront's own order name (Shopify ``#1001``), for messages."""
    updated_at: datetime
    placed_at: datetime
    currency: str
    customer_email: str
    customer_name: str
    customer_phone: str
    lines: tuple[OrderLineInput, ...]
    shipping_amount: int
    discount_amount: int
    total_amount: int
    """What the storefront says the customer pays, compared with what we compute."""
    shipping_address: ShippingAddress | None
    paid: bool
    refunded: bool
    cancelled_at: datetime | None = None
    cancel_reason: str = ""


def _customer(fact: StorefrontOrderFact) -> Customer:
    """As the orders API finds or creates its customer; a phone our validators refuse is
    dropped rather than losing the order."""
    try:
        return customer_find_or_create(
            email=fact.customer_email, name=fact.customer_name, phone=fact.customer_phone
        )
    except ValidationError:
        if not fact.customer_phone:
            raise
        return customer_find_or_create(email=fact.customer_email, name=fact.customer_name)


def _place(fact: StorefrontOrderFact) -> Order:
    if not fact.customer_email:
        raise MalformedWebhook(f"{fact.source} order {fact.name} has no customer e-mail.")
    try:
        customer = _customer(fact)
    except ValidationError as exc:
        problem = "; ".join(exc.messages)
        raise MalformedWebhook(f"{fact.source} order {fact.name}: {problem}") from exc
    try:
        order = order_place(
            customer=customer,
            currency=fact.currency,
            lines=fact.lines,
            shipping_amount=fact.shipping_amount,
            discount_amount=fact.discount_amount,
            placed_at=fact.placed_at,
            shipping_address=fact.shipping_address,
            source=fact.source,
            external_id=fact.external_id,
            external_updated_at=fact.updated_at,
        )
    except OrderNotAllowed as exc:  # no lines, a discount past the order: never placeable
        raise MalformedWebhook(f"{fact.source} order {fact.name}: {exc}") from exc
    total = order.total_amount
    if total != fact.total_amount:
        order = order_flag(
            order=order,
            reason=(
                f"{fact.source} total {format_money(fact.total_amount, fact.currency)} differs "
                f"from ours {format_money(total, fact.currency)} (taxes, duties or tips)"
            ),
        )
    return order


def _follow_status(order: Order, fact: StorefrontOrderFact) -> Order:
    if fact.cancelled_at is not None:
        reason = fact.cancel_reason or "no reason given"
        if order.status == OrderStatus.PLACED:
            return order_cancel(
                order=order,
                reason=f"cancelled in {fact.source} ({reason})",
                occurred_at=fact.cancelled_at,
            )
        if order.status not in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
            return order_flag(
                order=order,
                reason=(
                    f"Cancelled in {fact.source} after payment ({reason}): refund it and stop "
                    "the shipment here"
                ),
            )
        return order
    if fact.paid and order.status == OrderStatus.PLACED:
        order = order_mark_paid(order=order, occurred_at=fact.updated_at)
    if fact.refunded and order.status not in (OrderStatus.CANCELLED, OrderStatus.REFUNDED):
        order = order_flag(
            order=order, reason=f"Refunded in {fact.source}: check the refund and the shipment"
        )
    return order


def storefront_order_fact_apply(*, fact: StorefrontOrderFact) -> FactOutcome:
    """Place or update the order ``fact`` describes; see the module docstring. Idempotent: the
    same version twice, or an older one, changes nothing. Raises MalformedWebhook for an order
    that cannot be placed as it is (no e-mail, refused lines), and IntegrityError when another
    worker places the same storefront order at the same moment (the inbox retries it)."""
    with transaction.atomic():
        existing = (
            Order.objects.select_for_update()
            .filter(source=fact.source, external_id=fact.external_id)
            .first()
        )
        if existing is None:
            order = _place(fact)
        else:
            order, newer = order_storefront_sync(
                order=existing, updated_at=fact.updated_at, shipping_address=fact.shipping_address
            )
            if not newer:
                log.info(
                    "storefront.order_stale",
                    source=fact.source,
                    external_id=fact.external_id,
                    order=order.number,
                )
                return FactOutcome(target=order)
        order = _follow_status(order, fact)
    return FactOutcome(affected=(order,), target=order)
