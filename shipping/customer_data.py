"""The shipments' part of a customer's data export and context summary (``accounts.customers``)."""

from __future__ import annotations

from typing import Any

from accounts.customers.export import export_rows, register_customer_export_section
from accounts.customers.summary import register_customer_summary_part
from accounts.models import Customer
from shipping.models import Shipment, ShipmentStatus

IN_TRANSIT_STATUSES = (
    ShipmentStatus.POSTED,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.OUT_FOR_DELIVERY,
    ShipmentStatus.AVAILABLE_FOR_PICKUP,
)
_SHIPMENT_FIELDS = [
    "id",
    "order_id",
    "carrier",
    "service",
    "status",
    "tracking_status",
    "tracking_code",
    "cost_amount",
    "cost_currency",
    "created_at",
    "posted_at",
    "delivered_at",
    "promised_delivery_on",
]
_SCAN_FIELDS = ["id", "status", "carrier_code", "carrier_message", "location", "occurred_at"]


def shipments_export(customer: Customer) -> list[dict[str, Any]]:
    """Every shipment of the customer's orders with its tracking scans, oldest first."""
    shipments = (
        Shipment.objects.filter(order__customer=customer)
        .prefetch_related("tracking_events")
        .order_by("created_at", "id")
    )
    out = []
    for shipment in shipments:
        row = export_rows([shipment], _SHIPMENT_FIELDS)[0]
        scans = sorted(shipment.tracking_events.all(), key=lambda s: (s.occurred_at, s.pk))
        row["tracking_scans"] = export_rows(scans, _SCAN_FIELDS)
        out.append(row)
    return out


def shipments_summary(customer: Customer) -> dict[str, Any]:
    """Shipments on their way (posted, moving, out for delivery or awaiting pickup): how many,
    and the oldest 20. Two queries."""
    moving = Shipment.objects.filter(order__customer=customer, status__in=IN_TRANSIT_STATUSES)
    return {
        "in_transit_count": moving.count(),
        "in_transit": [
            {"order_number": number, "carrier": carrier, "status": status, "tracking_code": code}
            for number, carrier, status, code in moving.order_by("created_at", "id").values_list(
                "order__number", "carrier", "status", "tracking_code"
            )[:20]
        ],
    }


def register_customer_data() -> None:
    register_customer_export_section("shipments", shipments_export)
    register_customer_summary_part("shipments", shipments_summary)
