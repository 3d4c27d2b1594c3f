"""Shipping workflows that call the carrier: ship a paid order (cheapest quote, then its label).
The subscriber in ``shipping.subscribers`` is a one-line call to this.

Carrier calls happen outside any transaction; each step is idempotent, so a retry after a crash
or an outage continues where the last attempt stopped and never opens a second shipment or buys
a second label.
"""

from __future__ import annotations

import structlog
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from integrations.exceptions import InvalidTransition
from integrations.transitions import lock
from orders.models import Order
from shipping.carriers import get_carrier
from shipping.carriers.base import LabelRequest, Parcel, Quote, QuoteRequest
from shipping.exceptions import NoCarrierService
from shipping.facts import TrackingFact, tracking_fact_apply
from shipping.models import TRACKING_STATUSES, Shipment, ShipmentStatus, TrackingStatus
from shipping.packing import PackingLine, pack
from shipping.promises import promised_delivery_date
from shipping.services import (
    SHIPPABLE_ORDER_STATUSES,
    shipment_cancel,
    shipment_create,
    shipment_purchase_label,
)

log = structlog.get_logger(__name__)


def _open_shipment(order: Order) -> Shipment | None:
    return (
        Shipment.objects.filter(order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .order_by("id")
        .first()
    )


def _items(order: Order) -> int:
    return int(order.lines.aggregate(total=Sum("quantity"))["total"] or 1)


def order_parcels(order: Order) -> tuple[Parcel, ...]:
    """The order's lines packed into volumes (``shipping.packing``), its total declared."""
    lines = [
        PackingLine(
            quantity=line.quantity,
            weight_grams=line.weight_grams,
            length_mm=line.length_mm,
            width_mm=line.width_mm,
            height_mm=line.height_mm,
        )
        for line in order.lines.all()
    ]
    return tuple(pack(lines, declared_amount=order.total_amount))


def _cheapest(quotes: list[Quote]) -> Quote:
    if not quotes:
        raise NoCarrierService("The carrier offered no service for this parcel.")
    return min(quotes, key=lambda quote: (quote.amount, quote.days))


def shipment_start_for_order(*, order_id: int | str) -> None:
    """A paid order's shipment with the cheapest quote of the active carrier, then its label
    (idempotency key ``shipment:<pk>``).

    Idempotent on the order: an open (not cancelled) shipment is reused, and a shipment that
    already has its label is left alone. An order that is no longer paid or fulfilling (refunded
    meanwhile) gets no shipment. Carrier errors (ProviderUnavailable, ProviderRejected) propagate,
    so the caller retries; a retry finds the pending shipment and only buys its label."""
    order = Order.objects.select_related("customer").get(pk=order_id)
    shipment = _open_shipment(order)
    if shipment is None:
        if order.status not in SHIPPABLE_ORDER_STATUSES:
            return
        carrier = get_carrier()
        quote = _cheapest(
            carrier.quote(
                request=QuoteRequest(
                    reference=f"order:{order.pk}",
                    order_number=order.number,
                    items=_items(order),
                    declared_amount=order.total_amount,
                    currency=order.currency,
                    destination_postal_code=order.ship_to_postal_code,
                    parcels=order_parcels(order),
                )
            )
        )
        with transaction.atomic():
            # Under the order's lock, so two runs of this workflow never open two shipments.
            order = lock(order)
            shipment = _open_shipment(order)
            if shipment is None:
                if order.status not in SHIPPABLE_ORDER_STATUSES:
                    return
                shipment = shipment_create(
                    order=order,
                    carrier=carrier.name,
                    service=quote.service,
                    cost_amount=quote.amount,
                    promised_delivery_on=promised_delivery_date(
                        start=timezone.now(), business_days=quote.days
                    ),
                )
    if shipment.status == ShipmentStatus.PENDING:
        _buy_label(shipment)


def _buy_label(shipment: Shipment) -> None:
    order = shipment.order
    label = get_carrier(shipment.carrier).buy_label(
        request=LabelRequest(
            reference=f"shipment:{shipment.pk}",
            service=shipment.service,
            order_number=order.number,
            items=_items(order),
            declared_amount=order.total_amount,
            currency=order.currency,
            recipient_name=order.ship_to_name or order.customer.name,
            destination_postal_code=order.ship_to_postal_code,
            destination_street=order.ship_to_street,
            destination_number=order.ship_to_number,
            destination_complement=order.ship_to_complement,
            destination_district=order.ship_to_district,
            destination_city=order.ship_to_city,
            destination_state=order.ship_to_state,
            destination_country=order.ship_to_country,
            recipient_email=order.customer.email,
            recipient_phone=order.customer.phone,
            recipient_document=order.customer.tax_document,
            parcels=order_parcels(order),
        )
    )
    try:
        shipment_purchase_label(
            shipment=shipment,
            tracking_code=label.tracking_code,
            provider_shipment_id=label.provider_shipment_id,
            label_url=label.label_url,
        )
    except InvalidTransition as exc:
        # Moved on while the carrier answered: another run recorded the same label, or staff
        # cancelled the shipment (the label is then left unused).
        log.warning("shipping.label_not_recorded", shipment=shipment.pk, detail=str(exc))


def shipment_refresh_tracking(*, shipment_id: int | str) -> int:
    """Ask the shipment's carrier for its tracking history and apply every scan through
    ``tracking_fact_apply`` (the same path as webhooks: watermark, transitions, one
    TrackingEvent per scan). Answers how many scans the carrier reported. Raises
    ProviderUnavailable (retry later)."""
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    if not shipment.tracking_code:
        return 0
    scans = get_carrier(shipment.carrier).track(tracking_code=shipment.tracking_code)
    for scan in scans:
        status = ShipmentStatus(scan.status) if scan.status in TRACKING_STATUSES else None
        fact = TrackingFact(
            carrier=shipment.carrier,
            reference=f"shipment:{shipment.pk}",
            tracking_code=shipment.tracking_code,
            status=status,
            tracking_status=TrackingStatus(scan.tracking_status) if scan.tracking_status else None,
            occurred_at=scan.occurred_at,
            location=scan.location,
            description=scan.description,
            carrier_code=scan.carrier_code,
            carrier_message=scan.description,
        )
        with transaction.atomic():
            tracking_fact_apply(fact=fact)
    return len(scans)


def shipment_void_label(*, shipment_id: int | str, reason: str) -> Shipment:
    """Void the shipment's label at its carrier (refunded there), then cancel the shipment.
    Idempotent; raises ProviderRejected when the carrier refuses (posted) and
    ProviderUnavailable (nothing changed here; retry)."""
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    if shipment.status == ShipmentStatus.CANCELLED:
        return shipment
    if shipment.provider_shipment_id:
        get_carrier(shipment.carrier).void_label(
            provider_shipment_id=shipment.provider_shipment_id, reason=reason
        )
    return shipment_cancel(shipment=shipment, reason=reason)
