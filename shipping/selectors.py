from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from shipping.models import Shipment, ShippingQuote, TableRate


def customer_ids_by_tracking_or_provider_id(term: str) -> QuerySet[Shipment, Any]:
    """Customer ids of the orders whose shipment has exactly this tracking code or carrier id."""
    return Shipment.objects.filter(Q(tracking_code=term) | Q(provider_shipment_id=term)).values(
        "order__customer_id"
    )


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
