from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from shipping.models import Shipment


def customer_ids_by_tracking_or_provider_id(term: str) -> QuerySet[Shipment, Any]:
    """Customer ids of the orders whose shipment has exactly this tracking code or carrier id."""
    return Shipment.objects.filter(Q(tracking_code=term) | Q(provider_shipment_id=term)).values(
        "order__customer_id"
    )
