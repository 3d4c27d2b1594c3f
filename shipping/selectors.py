from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from shipping.models import Shipment


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
