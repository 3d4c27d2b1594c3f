"""Shipments: created for a paid order, moved by our label purchase and the carrier's tracking.

Every status change goes through ``SHIPMENT_TRANSITIONS`` and records one DomainEvent; the order
follows along (fulfilling on create, shipped when posted, delivered when delivered) in the same
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from integrations.events import record_event
from integrations.transitions import Transitions, ensure_transition, lock
from orders.models import Order, OrderStatus
from orders.services import order_mark_delivered, order_mark_fulfilling, order_mark_shipped
from shipping.carriers.base import Quote
from shipping.exceptions import (
    OrderNotShippable,
    QuoteNotChoosable,
    ShipmentNotAllowed,
    TrackingCodeTaken,
)
from shipping.models import (
    ATTENTION_TRACKING_STATUSES,
    SHIPMENT_TRANSITIONS,
    TRACKING_STATUSES,
    Shipment,
    ShipmentStatus,
    ShippingQuote,
    TableRate,
    TrackingEvent,
    TrackingStatus,
)

log = structlog.get_logger(__name__)

SHIPPABLE_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLING)


def _shipment_data(shipment: Shipment, **extra: Any) -> dict[str, Any]:
    return {
        "order": shipment.order.number,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "tracking_code": shipment.tracking_code,
        **extra,
    }


def shipment_create(
    *,
    order: Order,
    carrier: str,
    service: str = "",
    cost_amount: int = 0,
    cost_currency: str = "",
    occurred_at: datetime | None = None,
    promised_delivery_on: date | None = None,
) -> Shipment:
    """Open a pending shipment for ``order``, costed in ``cost_currency`` (the carrier's, e.g.
    EasyPost's USD; the order's currency when blank), with the delivery
    date its quote promised (``shipping.promises.promised_delivery_date``) when there is one.

    A paid order moves to fulfilling in the same transaction. Raises OrderNotShippable when the
    order is neither paid nor fulfilling, ShipmentNotAllowed when the carrier is blank or the cost
    is negative; nothing is written then."""
    carrier = carrier.strip()
    if not carrier:
        raise ShipmentNotAllowed("A shipment needs a carrier.")
    if cost_amount < 0:
        raise ShipmentNotAllowed("A shipment's cost cannot be negative.")
    with transaction.atomic():
        cost_currency = (cost_currency or order.currency).upper()
        order = lock(order)
        if order.status not in SHIPPABLE_ORDER_STATUSES:
            raise OrderNotShippable(
                f"{order} is {order.status}; only a paid or fulfilling order can be shipped."
            )
        shipment = Shipment.objects.create(
            order=order,
            carrier=carrier,
            service=service.strip(),
            cost_amount=cost_amount,
            cost_currency=cost_currency,
            promised_delivery_on=promised_delivery_on,
        )
        record_event(
            type="shipment.created",
            customer=order.customer,
            subject=shipment,
            actor_label="system",
            occurred_at=occurred_at,
            data=_shipment_data(shipment, amount=cost_amount, currency=cost_currency),
        )
        if order.status == OrderStatus.PAID:
            order_mark_fulfilling(order=order, occurred_at=occurred_at)
    return shipment


def shipment_purchase_label(
    *,
    shipment: Shipment,
    tracking_code: str,
    provider_shipment_id: str = "",
    label_url: str = "",
    occurred_at: datetime | None = None,
) -> Shipment:
    """pending -> label_purchased, keeping the carrier's tracking code, id and label.

    Raises ShipmentNotAllowed for a blank tracking code, TrackingCodeTaken for one this carrier
    already used on another shipment, InvalidTransition from any status but pending."""
    tracking_code = tracking_code.strip()
    if not tracking_code:
        raise ShipmentNotAllowed("A purchased label needs a tracking code.")
    with transaction.atomic():
        shipment = lock(shipment)
        ensure_transition(
            entity=str(shipment),
            current=shipment.status,
            target=ShipmentStatus.LABEL_PURCHASED,
            allowed=SHIPMENT_TRANSITIONS,
        )
        taken = (
            Shipment.objects.filter(carrier=shipment.carrier, tracking_code=tracking_code)
            .exclude(pk=shipment.pk)
            .exists()
        )
        if taken:
            raise TrackingCodeTaken(
                f"{shipment.carrier} tracking code {tracking_code} is already on another shipment."
            )
        shipment.status = ShipmentStatus.LABEL_PURCHASED
        shipment.tracking_code = tracking_code
        shipment.provider_shipment_id = provider_shipment_id.strip()
        shipment.label_url = label_url.strip()
        shipment.save(
            update_fields=[
                "status",
                "tracking_code",
                "provider_shipment_id",
                "label_url",
                "updated_at",
            ]
        )
        record_event(
            type="shipment.label_purchased",
            customer=shipment.order.customer,
            subject=shipment,
            actor_label=shipment.carrier,
            occurred_at=occurred_at,
            data=_shipment_data(shipment, provider_shipment_id=shipment.provider_shipment_id),
        )
    return shipment


def _tracking_reach() -> Transitions:
    """Where each status can get to through tracking scans: the transitions map closed over
    paths whose every step is a tracking status. Carriers skip scans, and a scan between may
    still be on its way: a newer fact ahead along the map is applied (from posted straight to
    returned, when the failed delivery between is missing)."""
    reach: dict[str, frozenset[str]] = {}
    for start in SHIPMENT_TRANSITIONS:
        seen: set[str] = set()
        todo = [t for t in SHIPMENT_TRANSITIONS[start] if t in TRACKING_STATUSES]
        while todo:
            status = todo.pop()
            if status not in seen:
                seen.add(status)
                todo.extend(SHIPMENT_TRANSITIONS[status] & TRACKING_STATUSES)
        reach[start] = frozenset(seen)
    return reach


TRACKING_REACH = _tracking_reach()


def shipment_apply_tracking(
    *,
    shipment: Shipment,
    status: str,
    occurred_at: datetime | None = None,
    location: str = "",
    description: str = "",
) -> Shipment:
    """Apply one tracking status reported by the carrier (posted ... delivered, returned).

    Idempotent and order-insensitive: the status the shipment already has is a no-op, and so is a
    fact that ``occurred_at`` before the last one applied (the watermark ``last_tracking_at``), so
    a late delivery never moves a shipment backwards and any permutation of the same facts ends in
    the same state. The first tracking fact marks a paid or fulfilling order shipped; delivery
    marks it delivered, in the same transaction. Raises ShipmentNotAllowed for a status tracking
    does not report (pending, label_purchased, cancelled) and InvalidTransition for a move the map
    refuses."""
    return _shipment_track(
        shipment=shipment,
        status=status,
        occurred_at=occurred_at,
        location=location,
        description=description,
        allowed=SHIPMENT_TRANSITIONS,
        carrier_fact=False,
    )


def shipment_track_fact(
    *,
    shipment: Shipment,
    status: str,
    occurred_at: datetime | None,
    location: str = "",
    description: str = "",
) -> Shipment:
    """``shipment_apply_tracking`` for a carrier's fact (``shipping.facts.tracking_fact_apply``):
    a newer scan of the status the shipment has moves the watermark (a second failed delivery
    after a return to transit stays the newest word), a newer scan ahead along the map is
    applied even when the scans between are missing (``TRACKING_REACH``), and a posting scan
    arriving after later ones still gives ``posted_at``. So any permutation of a carrier's scans
    ends where the newest one says."""
    return _shipment_track(
        shipment=shipment,
        status=status,
        occurred_at=occurred_at,
        location=location,
        description=description,
        allowed=TRACKING_REACH,
        carrier_fact=True,
    )


def _note_posted_at(shipment: Shipment, occurred_at: datetime) -> None:
    """A posting scan that arrives after later scans still says when the parcel was posted."""
    if shipment.posted_at is None or occurred_at < shipment.posted_at:
        shipment.posted_at = occurred_at
        shipment.save(update_fields=["posted_at", "updated_at"])


def _shipment_track(
    *,
    shipment: Shipment,
    status: str,
    occurred_at: datetime | None,
    location: str,
    description: str,
    allowed: Transitions,
    carrier_fact: bool,
) -> Shipment:
    if status not in TRACKING_STATUSES:
        raise ShipmentNotAllowed(f"{status!r} is not a tracking status.")
    target = ShipmentStatus(status)
    location = location.strip()
    description = description.strip()
    with transaction.atomic():
        shipment = lock(shipment)
        watermark = shipment.last_tracking_at
        same_time_forward = (
            occurred_at is not None
            and occurred_at == watermark
            and target in allowed.get(shipment.status, frozenset())
            and shipment.status not in allowed.get(target, frozenset())
        )
        if (
            occurred_at is not None
            and watermark is not None
            and occurred_at <= watermark
            and not same_time_forward
        ):
            # Stale: a later fact was already applied. Two facts of the same instant (posted and
            # delivered in one second) end the same in either order: the one ahead along a
            # one-way move of the map wins.
            if carrier_fact and target == ShipmentStatus.POSTED:
                _note_posted_at(shipment, occurred_at)
            return shipment
        if shipment.status == target:
            if carrier_fact and occurred_at is not None:
                shipment.last_tracking_at = occurred_at
                shipment.save(update_fields=["last_tracking_at", "updated_at"])
            return shipment
        ensure_transition(
            entity=str(shipment),
            current=shipment.status,
            target=target,
            allowed=allowed,
        )
        happened_at = occurred_at or timezone.now()
        shipment.status = target
        shipment.last_tracking_at = happened_at
        update_fields = ["status", "last_tracking_at", "updated_at"]
        if target == ShipmentStatus.POSTED:
            shipment.posted_at = happened_at
            update_fields.append("posted_at")
        elif target == ShipmentStatus.DELIVERED:
            shipment.delivered_at = happened_at
            update_fields.append("delivered_at")
        shipment.save(update_fields=update_fields)
        order = shipment.order
        if order.status in SHIPPABLE_ORDER_STATUSES or target == ShipmentStatus.DELIVERED:
            order = lock(order)
        record_event(
            type=f"shipment.{target}",
            customer=order.customer,
            subject=shipment,
            actor_label=shipment.carrier,
            occurred_at=happened_at,
            data=_shipment_data(
                shipment,
                status=str(target),
                location=location,
                description=description,
            ),
        )
        # Every tracking scan means the parcel left: a return to sender too (its posting scan
        # may be missing).
        if order.status in SHIPPABLE_ORDER_STATUSES:
            order = order_mark_shipped(order=order, occurred_at=happened_at)
        if target == ShipmentStatus.DELIVERED and order.status == OrderStatus.SHIPPED:
            order_mark_delivered(order=order, occurred_at=happened_at)
    return shipment


def shipment_record_tracking_event(
    *,
    shipment: Shipment,
    status: TrackingStatus,
    carrier_code: str = "",
    carrier_message: str = "",
    location: str = "",
    occurred_at: datetime | None = None,
    on_timeline: bool = True,
) -> TrackingEvent:
    """Keep one carrier scan as a ``TrackingEvent`` with its normalised status, the carrier's
    code and message and the location; the shipment's ``tracking_status`` follows the newest one.

    Idempotent: the same (code, status, time) for the shipment returns the row already kept and
    records nothing. ``on_timeline`` puts it on the order's and customer's timelines as
    ``shipment.tracking_update`` (the caller says False when the scan already moved the shipment,
    whose own event carries the location). An unknown code, a cancellation or a loss at the
    carrier is flagged ``needs_attention`` and logged for ops."""
    carrier_code = carrier_code.strip()[:60]
    carrier_message = carrier_message.strip()[:300]
    location = location.strip()[:200]
    with transaction.atomic():
        shipment = lock(shipment)
        existing = TrackingEvent.objects.filter(
            shipment=shipment, carrier_code=carrier_code, status=status, occurred_at=occurred_at
        ).first()
        if existing is not None:
            return existing
        newest = (
            TrackingEvent.objects.filter(shipment=shipment, occurred_at__isnull=False)
            .order_by("-occurred_at")
            .values_list("occurred_at", flat=True)
            .first()
        )
        needs_attention = status in ATTENTION_TRACKING_STATUSES
        event = TrackingEvent.objects.create(
            shipment=shipment,
            status=status,
            carrier_code=carrier_code,
            carrier_message=carrier_message,
            location=location,
            occurred_at=occurred_at,
            needs_attention=needs_attention,
        )
        is_newest = newest is None or occurred_at is None or occurred_at >= newest
        if is_newest and shipment.tracking_status != status:
            shipment.tracking_status = status
            shipment.save(update_fields=["tracking_status", "updated_at"])
        if needs_attention:
            log.warning(
                "shipping.tracking_needs_attention",
                shipment=shipment.pk,
                carrier=shipment.carrier,
                status=str(status),
                carrier_code=carrier_code,
            )
        if on_timeline or needs_attention:
            record_event(
                type="shipment.tracking_update",
                customer=shipment.order.customer,
                subject=shipment,
                actor_label=shipment.carrier,
                occurred_at=occurred_at,
                data=_shipment_data(
                    shipment,
                    status=str(status),
                    status_label=str(TrackingStatus(status).label),
                    carrier_code=carrier_code,
                    carrier_message=carrier_message,
                    location=location,
                    needs_attention=needs_attention,
                ),
            )
    return event


def shipment_cancel(
    *, shipment: Shipment, reason: str, occurred_at: datetime | None = None
) -> Shipment:
    """pending or label_purchased -> cancelled, with a required reason (kept in the event).

    The order keeps its status. Raises ShipmentNotAllowed for a blank reason and InvalidTransition
    once the parcel is posted."""
    reason = reason.strip()
    if not reason:
        raise ShipmentNotAllowed("Cancelling a shipment needs a reason.")
    with transaction.atomic():
        shipment = lock(shipment)
        ensure_transition(
            entity=str(shipment),
            current=shipment.status,
            target=ShipmentStatus.CANCELLED,
            allowed=SHIPMENT_TRANSITIONS,
        )
        shipment.status = ShipmentStatus.CANCELLED
        shipment.save(update_fields=["status", "updated_at"])
        record_event(
            type="shipment.cancelled",
            customer=shipment.order.customer,
            subject=shipment,
            actor_label="system",
            occurred_at=occurred_at,
            data=_shipment_data(shipment, reason=reason),
        )
    return shipment


# Quotes and table rates ------------------------------------------------------------------


def postal_digits(postal_code: str) -> str:
    return "".join(c for c in postal_code if c.isascii() and c.isdigit())


def weight_band(weight_grams: int) -> int | None:
    """The smallest band of ``SHIPPING_TABLE_RATE_WEIGHT_BANDS_GRAMS`` that holds the weight;
    None when it is heavier than the largest."""
    for upper in sorted(settings.SHIPPING_TABLE_RATE_WEIGHT_BANDS_GRAMS):
        if weight_grams <= upper:
            return int(upper)
    return None


def table_rate_upsert(
    *, carrier: str, quote: Quote, destination_postal_code: str, weight_grams: int
) -> TableRate | None:
    """Keep a real quote's price as the table rate of its carrier, service, destination prefix
    (``SHIPPING_TABLE_RATE_PREFIX_DIGITS`` digits) and weight band, replacing the one there
    (a staff edit too). Nothing is kept for a destination without enough digits or a parcel
    heavier than the largest band (None)."""
    prefix = postal_digits(destination_postal_code)[: settings.SHIPPING_TABLE_RATE_PREFIX_DIGITS]
    band = weight_band(weight_grams)
    if len(prefix) < settings.SHIPPING_TABLE_RATE_PREFIX_DIGITS or band is None:
        return None
    rate, _ = TableRate.objects.update_or_create(
        carrier=carrier,
        service=quote.service[:60],
        postal_prefix=prefix,
        weight_up_to_grams=band,
        defaults={
            "service_id": quote.service_id[:20],
            "amount": quote.amount,
            "currency": quote.currency,
            "days": max(quote.days, 0),
            "updated_at": timezone.now(),
            "edited_by_staff": False,
        },
    )
    return rate


def table_rate_save(*, rate: TableRate) -> TableRate:
    """Keep a rate set by staff in the admin (marked ``edited_by_staff``, dated now)."""
    rate.updated_at = timezone.now()
    rate.edited_by_staff = True
    rate.save()
    return rate


@dataclass(frozen=True)
class QuoteOption:
    """One shipping option as the quote API answers it (minor units)."""

    carrier: str
    service: str
    service_id: str
    amount: int
    currency: str
    days: int
    source: str
    """``carrier`` (a live quote) or ``table`` (a cached table rate)."""
    updated_at: datetime | None = None
    """For a table rate: when it was last set."""


def shipping_quotes_record(*, order: Order, options: list[QuoteOption]) -> list[ShippingQuote]:
    """Keep ``options`` as the order's quotes, replacing the ones not chosen (the chosen one
    stays chosen until another is)."""
    with transaction.atomic():
        order = lock(order)
        ShippingQuote.objects.filter(order=order, chosen=False).delete()
        return ShippingQuote.objects.bulk_create(
            ShippingQuote(
                order=order,
                carrier=o.carrier,
                service=o.service[:60],
                service_id=o.service_id[:20],
                amount=o.amount,
                currency=o.currency,
                days=max(o.days, 0),
                source=o.source,
            )
            for o in options
        )


def shipping_quote_choose(*, quote: ShippingQuote) -> ShippingQuote:
    """Make ``quote`` its order's chosen one (the ship workflow buys it). Idempotent. Raises
    QuoteNotChoosable once the order has a shipment that is not cancelled: its service is
    already fixed (void the label first)."""
    with transaction.atomic():
        order = lock(quote.order)
        open_shipment = Shipment.objects.filter(order=order).exclude(
            status=ShipmentStatus.CANCELLED
        )
        if open_shipment.exists():
            raise QuoteNotChoosable(
                f"{order} already has a shipment; void its label before choosing another quote."
            )
        ShippingQuote.objects.filter(order=order, chosen=True).exclude(pk=quote.pk).update(
            chosen=False
        )
        if not quote.chosen:
            quote.chosen = True
            quote.save(update_fields=["chosen"])
    return quote


def shipment_label_request(*, quote: ShippingQuote, actor: User | None = None) -> ShippingQuote:
    """Choose ``quote`` and queue its label purchase: a ``shipment.label_requested`` event whose
    delivery (``shipping.buy_requested_label``) runs the ship workflow and is retried with
    backoff while the carrier is down, so nothing is lost. Raises QuoteNotChoosable (see
    ``shipping_quote_choose``) and OrderNotShippable for an order neither paid nor fulfilling."""
    with transaction.atomic():
        quote = shipping_quote_choose(quote=quote)
        order = lock(quote.order, "customer")
        if order.status not in SHIPPABLE_ORDER_STATUSES:
            raise OrderNotShippable(
                f"{order} is {order.status}; only a paid or fulfilling order can be shipped."
            )
        record_event(
            type="shipment.label_requested",
            customer=order.customer,
            subject=order,
            actor=actor,
            data={
                "order": order.number,
                "carrier": quote.carrier,
                "service": quote.service,
                "amount": quote.amount,
                "currency": quote.currency,
            },
        )
    return quote
