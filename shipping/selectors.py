from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from shipping.models import (
    EXCEPTION_REASON_FOR,
    AlertReason,
    Shipment,
    ShipmentAlert,
    ShipmentStatus,
    ShippingQuote,
    TableRate,
)
from shipping.promises import local_today


def customer_ids_by_tracking_or_provider_id(term: str) -> QuerySet[Shipment, Any]:
    """Customer ids of the orders whose shipment has exactly this tracking code or carrier id."""
    return Shipment.objects.filter(Q(tracking_code=term) | Q(provider_shipment_id=term)).values(
        "order__customer_id"
    )


def shipment_reference_by_carrier_ids(
    *, carrier: str, provider_shipment_id: str = "", tracking_code: str = ""
) -> str:
    """``shipment:<pk>`` of ``carrier``'s shipment with this carrier id (else this tracking
    code), for carriers whose tracking names their own ids only; "" when none matches."""
    shipments = Shipment.objects.filter(carrier=carrier)
    for lookup in (
        {"provider_shipment_id": provider_shipment_id},
        {"tracking_code": tracking_code},
    ):
        if not next(iter(lookup.values())):
            continue
        pk = shipments.filter(**lookup).order_by("-id").values_list("pk", flat=True).first()
        if pk is not None:
            return f"shipment:{pk}"
    return ""


# Delay and exception alerts: the shipments the hourly scan should flag -------------------------

# Statuses whose parcel should keep being scanned; a label bought but never posted is watched
# from the shipment's creation (it has no scan yet). Failed, lost and returned parcels are
# flagged for that instead, and delivered and cancelled ones never.
STALE_SCAN_STATUSES = (
    ShipmentStatus.POSTED,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.AVAILABLE_FOR_PICKUP,
)
UNSCANNED_STATUS = ShipmentStatus.LABEL_PURCHASED
# Every status whose parcel has not reached the customer and can still: late past the promise.
LATE_STATUSES = (
    ShipmentStatus.PENDING,
    ShipmentStatus.LABEL_PURCHASED,
    *STALE_SCAN_STATUSES,
    ShipmentStatus.DELIVERY_FAILED,
    ShipmentStatus.LOST,
)


def _not_flagged(queryset: QuerySet[Shipment], reason: AlertReason) -> QuerySet[Shipment]:
    alerts = ShipmentAlert.objects.filter(shipment=OuterRef("pk"), reason=reason)
    return queryset.filter(~Exists(alerts)).order_by()  # any order: no sort of the window


def shipment_alert_candidates(
    *, now: datetime, stale_days: int, lookback_days: int
) -> list[tuple[AlertReason, QuerySet[Shipment]]]:
    """For each reason, the shipments not flagged for it yet whose threshold was crossed within
    the last ``lookback_days``: each query is a range on a ``(status, time)`` index, so a run
    reads what became due lately, never the whole history. Unordered; slice them."""
    stale_before = now - timedelta(days=stale_days)
    stale_since = stale_before - timedelta(days=lookback_days)
    today = local_today(now)
    candidates: list[tuple[AlertReason, QuerySet[Shipment]]] = [
        (
            AlertReason.STALE_SCAN,
            Shipment.objects.filter(
                status__in=STALE_SCAN_STATUSES,
                last_tracking_at__lt=stale_before,
                last_tracking_at__gte=stale_since,
            ),
        ),
        (
            AlertReason.STALE_SCAN,
            Shipment.objects.filter(
                status=UNSCANNED_STATUS, created_at__lt=stale_before, created_at__gte=stale_since
            ),
        ),
        (
            AlertReason.PAST_PROMISED_DATE,
            Shipment.objects.filter(
                status__in=LATE_STATUSES,
                promised_delivery_on__lt=today,
                promised_delivery_on__gte=today - timedelta(days=lookback_days),
            ),
        ),
    ]
    candidates += [
        (
            reason,
            Shipment.objects.filter(
                status=status, last_tracking_at__gte=now - timedelta(days=lookback_days)
            ),
        )
        for status, reason in EXCEPTION_REASON_FOR.items()
    ]
    return [(reason, _not_flagged(queryset, reason)) for reason, queryset in candidates]


def table_rates_for(
    *, destination_postal_code: str, weight_grams: int, currency: str, carriers: list[str]
) -> list[TableRate]:
    """The table rate of each (carrier, service) for this destination and weight: the longest
    matching postal prefix, then the smallest band that holds the weight; cheapest first."""
    digits = "".join(c for c in destination_postal_code if c.isascii() and c.isdigit())
    prefixes = [digits[:n] for n in range(1, len(digits) + 1)]
    if not prefixes or not carriers:
        return []
    rows = TableRate.objects.filter(
        postal_prefix__in=prefixes,
        weight_up_to_grams__gte=max(weight_grams, 0),
        currency=currency,
        carrier__in=carriers,
    ).order_by("carrier", "service", "-postal_prefix", "weight_up_to_grams")
    best: dict[tuple[str, str], TableRate] = {}
    for rate in rows:
        key = (rate.carrier, rate.service)
        kept = best.get(key)
        if kept is None or (len(rate.postal_prefix), -rate.weight_up_to_grams) > (
            len(kept.postal_prefix),
            -kept.weight_up_to_grams,
        ):
            best[key] = rate
    return sorted(best.values(), key=lambda r: (r.amount, r.days, r.carrier, r.service))


def order_shipping_quotes(*, order_id: int) -> list[ShippingQuote]:
    """The order's quotes, cheapest first (the chosen one among them)."""
    return list(ShippingQuote.objects.filter(order_id=order_id).order_by("amount", "days", "id"))
