"""The carrier protocol. Adapters take and return these frozen dataclasses; SDK objects and raw
JSON never leave an adapter package. Amounts are integer minor units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Parcel:
    """One volume to ship (``shipping.packing.pack``): integer grams and millimetres, its
    units and its declared value (minor units). Adapters convert to the carrier's units."""

    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    items: int = 1
    declared_amount: int = 0


@dataclass(frozen=True)
class QuoteRequest:
    reference: str
    """Our id for what is being shipped (``order:<pk>`` before a shipment exists)."""
    order_number: str
    items: int
    declared_amount: int
    """The parcel's declared value (minor units), for insurance."""
    currency: str
    destination_postal_code: str = ""
    parcels: tuple[Parcel, ...] = ()
    """The packed volumes; empty when the caller has no package data (carrier defaults)."""
    origin_postal_code: str = ""
    """Where the parcel leaves from; empty: the carrier's configured origin."""


@dataclass(frozen=True)
class Quote:
    service: str
    """The carrier's service level, e.g. economy, express (SEDEX, PAC at a real carrier)."""
    amount: int
    currency: str
    days: int
    """Promised business days to delivery."""
    service_id: str = ""
    """The carrier's own id for the service (Melhor Envio's numeric id), when it has one."""


@dataclass(frozen=True)
class LabelRequest:
    reference: str
    """``shipment:<pk>``, also the idempotency key; the carrier echoes it in tracking webhooks."""
    service: str
    order_number: str
    items: int
    declared_amount: int
    currency: str
    recipient_name: str = ""
    destination_postal_code: str = ""
    parcels: tuple[Parcel, ...] = ()
    recipient_email: str = ""
    recipient_phone: str = ""
    recipient_document: str = ""
    destination_street: str = ""
    destination_number: str = ""
    destination_complement: str = ""
    destination_district: str = ""
    destination_city: str = ""
    destination_state: str = ""
    """UF in Brazil (SP), a state or province code elsewhere."""
    destination_country: str = ""
    """ISO 3166-1 alpha-2."""


@dataclass(frozen=True)
class Label:
    tracking_code: str
    provider_shipment_id: str
    label_url: str


@dataclass(frozen=True)
class TrackingFact:
    status: str
    """One of ``shipping.models.TRACKING_STATUSES`` (the adapter normalises carrier codes), or
    "" for a scan that moves no shipment (pre-transit, a delay)."""
    occurred_at: datetime
    location: str = ""
    description: str = ""
    tracking_status: str = ""
    """The normalised ``shipping.models.TrackingStatus``; derived from ``status`` when empty."""
    carrier_code: str = ""


class Carrier(Protocol):
    name: str
    """Registry name, stored on the shipment (``Shipment.carrier``)."""

    def quote(self, *, request: QuoteRequest) -> list[Quote]:
        """Prices for every service the carrier offers for this parcel (no side effects).

        Raises ProviderUnavailable (retry later) or ProviderRejected (terminal, e.g. an address
        the carrier does not serve)."""

    def buy_label(self, *, request: LabelRequest) -> Label:
        """Buy the label for ``request.service``. Idempotent on ``request.reference``: a repeat
        returns the same label and never buys a second one. Tracking then arrives by webhook.
        Raises ProviderUnavailable (retry later) or ProviderRejected (terminal)."""

    def void_label(self, *, provider_shipment_id: str, reason: str = "") -> None:
        """Cancel (and get refunded for) a label not yet posted. Idempotent. Raises
        ProviderRejected when the carrier refuses (already posted), ProviderUnavailable."""

    def track(self, *, tracking_code: str) -> list[TrackingFact]:
        """The carrier's tracking history, oldest first (used when webhooks are in doubt).
        Raises ProviderUnavailable (retry later)."""
