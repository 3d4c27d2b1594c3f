from __future__ import annotations

from dataclasses import dataclass

from integrations.events import EventType, Payload, register_event_types


@dataclass(frozen=True, kw_only=True)
class ShipmentPayload(Payload):
    order: str
    """The order's number."""
    carrier: str
    service: str
    tracking_code: str


@dataclass(frozen=True, kw_only=True)
class ShipmentCreatedPayload(ShipmentPayload):
    amount: int
    """The shipping cost, in minor units of ``currency``."""
    currency: str


@dataclass(frozen=True, kw_only=True)
class LabelPurchasedPayload(ShipmentPayload):
    provider_shipment_id: str


@dataclass(frozen=True, kw_only=True)
class TrackingPayload(ShipmentPayload):
    status: str
    location: str
    description: str

    @property
    def at_location(self) -> str:
        return f" at {self.location}" if self.location else ""

    @property
    def detail(self) -> str:
        return f": {self.description}" if self.description else ""


@dataclass(frozen=True, kw_only=True)
class TrackingUpdatePayload(ShipmentPayload):
    """A carrier scan that does not move the shipment (or needs ops' attention), in the one
    normalised tracking status, with the carrier's own code and message."""

    status: str
    """A ``TrackingStatus`` value."""
    status_label: str
    carrier_code: str
    carrier_message: str
    location: str
    needs_attention: bool

    @property
    def at_location(self) -> str:
        return f" at {self.location}" if self.location else ""

    @property
    def detail(self) -> str:
        return f": {self.carrier_message}" if self.carrier_message else ""

    @property
    def code(self) -> str:
        return f" [{self.carrier_code}]" if self.carrier_code else ""


@dataclass(frozen=True, kw_only=True)
class ShipmentCancelledPayload(ShipmentPayload):
    reason: str


@dataclass(frozen=True, kw_only=True)
class LabelRequestedPayload(Payload):
    """Staff asked for the order's label with a chosen quote; the purchase is queued."""

    order: str
    carrier: str
    service: str
    amount: int
    """The chosen quote's price, in minor units of ``currency``."""
    currency: str


register_event_types(
    EventType(
        "shipment.label_requested",
        "Shipping label requested",
        "{order}: label via {carrier} {service} requested",
        payload=LabelRequestedPayload,
    ),
    EventType(
        "shipment.created",
        "Shipment created",
        "{order}: shipment via {carrier} created",
        payload=ShipmentCreatedPayload,
    ),
    EventType(
        "shipment.label_purchased",
        "Shipping label purchased",
        "{carrier} {tracking_code}: label purchased for {order}",
        payload=LabelPurchasedPayload,
    ),
    EventType(
        "shipment.posted",
        "Shipment posted",
        "{carrier} {tracking_code}: posted{at_location}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.in_transit",
        "Shipment in transit",
        "{carrier} {tracking_code}: in transit{at_location}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.out_for_delivery",
        "Shipment out for delivery",
        "{carrier} {tracking_code}: out for delivery{at_location}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.delivered",
        "Shipment delivered",
        "{carrier} {tracking_code}: delivered{at_location}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.delivery_failed",
        "Delivery failed",
        "{carrier} {tracking_code}: delivery failed{at_location}{detail}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.returned",
        "Shipment returned",
        "{carrier} {tracking_code}: returned to sender{at_location}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.available_for_pickup",
        "Shipment available for pickup",
        "{carrier} {tracking_code}: available for pickup{at_location}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.lost",
        "Shipment lost",
        "{carrier} {tracking_code}: lost{detail}",
        payload=TrackingPayload,
    ),
    EventType(
        "shipment.tracking_update",
        "Tracking update",
        "{carrier} {tracking_code}: {status_label}{code}{at_location}{detail}",
        payload=TrackingUpdatePayload,
    ),
    EventType(
        "shipment.cancelled",
        "Shipment cancelled",
        "{order}: {carrier} shipment cancelled: {reason}",
        payload=ShipmentCancelledPayload,
    ),
)


# Delay and exception alerts (shipping/alerts.py) ------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ShipmentAlertPayload(ShipmentPayload):
    """A shipment flagged once for a reason (``AlertReason``): late, or in trouble."""

    reason: str
    """An ``AlertReason`` value."""
    reason_label: str
    detail: str
    promised_delivery_on: str
    """The promised delivery date (ISO), "" when the shipment has none."""
    notify_customer: bool
    """Whether the customer is told (the first delay of a shipment and each exception)."""

    @property
    def because(self) -> str:
        return f": {self.detail}" if self.detail else ""


@dataclass(frozen=True, kw_only=True)
class ShipmentAlertHandledPayload(ShipmentPayload):
    reason: str
    reason_label: str
    note: str

    @property
    def with_note(self) -> str:
        return f": {self.note}" if self.note else ""


register_event_types(
    EventType(
        "shipment.delayed",
        "Shipment delayed",
        "{carrier} {tracking_code}: flagged, {reason_label}{because}",
        payload=ShipmentAlertPayload,
    ),
    EventType(
        "shipment.exception",
        "Shipment exception",
        "{carrier} {tracking_code}: flagged, {reason_label}{because}",
        payload=ShipmentAlertPayload,
    ),
    EventType(
        "shipment.alert_handled",
        "Shipment alert handled",
        "{carrier} {tracking_code}: alert ({reason_label}) handled{with_note}",
        payload=ShipmentAlertHandledPayload,
    ),
)
