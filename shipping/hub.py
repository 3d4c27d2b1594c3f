"""The order page's shipments, each with its tracking scans (``orders.hub``), registered by
``ShippingConfig.ready``. Two queries: the shipments, then their scans."""

from __future__ import annotations

from django.db.models import Prefetch
from django.urls import reverse

from integrations.money import format_money
from orders.hub import HubPart, HubRow, hub_time, register_order_hub_part
from orders.models import Order
from shipping.models import Shipment, TrackingEvent


def _tracking_row(event: TrackingEvent) -> HubRow:
    return HubRow(
        cells=(
            hub_time(event.occurred_at),
            event.get_status_display(),
            event.carrier_code or "-",
            event.carrier_message or "-",
            event.location or "-",
            hub_time(event.recorded_at),
        ),
        url=reverse("admin:shipping_trackingevent_change", args=[event.pk]),
        permission="shipping.view_trackingevent",
    )


def _shipment_rows(order: Order, limit: int) -> list[HubRow]:
    scans = TrackingEvent.objects.order_by("-occurred_at", "-id")
    shipments = (
        Shipment.objects.filter(order=order)
        .order_by("-created_at", "-id")
        .prefetch_related(Prefetch("tracking_events", queryset=scans))[:limit]
    )
    return [
        HubRow(
            cells=(
                f"Shipment #{shipment.pk}",
                shipment.carrier,
                shipment.service or "-",
                shipment.get_status_display(),
                shipment.get_tracking_status_display() if shipment.tracking_status else "-",
                shipment.tracking_code or "-",
                format_money(shipment.cost_amount, shipment.cost_currency)
                if shipment.cost_currency
                else "-",
                hub_time(shipment.created_at),
            ),
            url=reverse("admin:shipping_shipment_change", args=[shipment.pk]),
            permission="shipping.view_shipment",
            details=tuple(_tracking_row(event) for event in shipment.tracking_events.all()),
        )
        for shipment in shipments
    ]


def register_hub_parts() -> None:
    register_order_hub_part(
        HubPart(
            key="shipments",
            title="Shipments and tracking",
            position=40,
            columns=(
                "Shipment",
                "Carrier",
                "Service",
                "Status",
                "Tracking status",
                "Tracking code",
                "Cost",
                "Created (UTC)",
            ),
            empty="No shipments yet. A shipment is created once the order is paid; the "
            "carrier's tracking scans then appear under it.",
            rows=_shipment_rows,
            detail_columns=(
                "Carrier time (UTC)",
                "Status",
                "Carrier code",
                "Carrier message",
                "Location",
                "Recorded (UTC)",
            ),
            detail_empty="No tracking scans yet: they appear as the carrier reports them.",
        )
    )
