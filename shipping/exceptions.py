"""Refusals of the shipping app (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class ShipmentNotAllowed(SwitchboardError):
    """A shipment change the rules refuse (no carrier, a negative cost, a blank tracking code
    or reason, a status tracking does not report). Nothing was written."""

    code = "shipment_not_allowed"
    title = "Shipment not allowed"


class OrderNotShippable(ShipmentNotAllowed):
    """Only a paid or fulfilling order can be shipped."""

    code = "order_not_shippable"
    http_status = 409
    title = "Order not shippable"


class TrackingCodeTaken(ShipmentNotAllowed):
    """The carrier's tracking code is already on another of our shipments."""

    code = "tracking_code_taken"
    http_status = 409
    title = "Tracking code already used"


class NoCarrierService(SwitchboardError):
    """The carrier quoted no service for the parcel."""

    code = "no_carrier_service"
    http_status = 422
    title = "No carrier service"


class TrackingCodeMismatch(SwitchboardError):
    """A carrier fact names one of our shipments but another tracking code: flagged, never
    applied (a forged or misrouted event, or a label we did not record)."""

    code = "tracking_code_mismatch"
    http_status = 422
    title = "Tracking code mismatch"


class InvalidPackage(SwitchboardError):
    """Package data that cannot be packed (a negative quantity or declared amount)."""

    code = "invalid_package"
    http_status = 422
    title = "Invalid package data"


class ShipmentAlertNotAllowed(SwitchboardError):
    """A change to a shipment alert the rules refuse (handling one already handled)."""

    code = "shipment_alert_not_allowed"
    http_status = 409
    title = "Shipment alert change not allowed"


class QuoteNotChoosable(SwitchboardError):
    """The order already has a shipment (its service is fixed until its label is voided)."""

    code = "quote_not_choosable"
    http_status = 409
    title = "Quote cannot be chosen"
