"""``Carrier`` for EasyPost: quotes (a shipment's rates), labels (buying a rate), void (refund)
and tracking (trackers), CONTRACTS §4.

Exactly one label per shipment: EasyPost takes no idempotency key, so the EasyPost shipment
carries our reference (``shipment:<pk>``) and every attempt first retrieves the shipment by that
reference (EasyPost accepts a reference in place of an id). A shipment already bought is
answered as it is; one not found is created; only a shipment with no label is bought. A buy that
times out or meets a 5xx is not sent again (the client never repeats a POST without a key); the
shipment is re-read and, if the buy went through, its label is the answer. So a carrier 5xx or
timeout on buy buys one label, never two.

Units at this edge: grams and millimetres in, ounces and inches out (rounded up to a tenth, the
precision EasyPost takes); one parcel per EasyPost shipment, so several packed volumes travel as
one stacked parcel. Prices are decimal strings in, integer minor units out (rounded up).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any

import requests
from django.conf import settings

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.money import minor_unit_exponent
from shipping.carriers.base import Label, LabelRequest, Parcel, Quote, QuoteRequest, TrackingFact
from shipping.carriers.easypost.client import (
    PROVIDER,
    EasyPostGateway,
    EasyPostRate,
    EasyPostShipment,
    EasyPostTracker,
)
from shipping.carriers.easypost.tracking import carrier_code, ep_status
from shipping.packing import parcels_or_default

GRAMS_PER_OUNCE = Decimal("28.349523125")
MM_PER_INCH = Decimal("25.4")
TENTH = Decimal("0.1")
REFUNDED = ("submitted", "refunded")


def ounces(grams: int) -> float:
    """Grams as ounces, rounded up to a tenth (never 0)."""
    return float(max(TENTH, (Decimal(grams) / GRAMS_PER_OUNCE).quantize(TENTH, ROUND_CEILING)))


def inches(mm: int) -> float:
    """Millimetres as inches, rounded up to a tenth (never 0)."""
    return float(max(TENTH, (Decimal(mm) / MM_PER_INCH).quantize(TENTH, ROUND_CEILING)))


def stacked(parcels: tuple[Parcel, ...]) -> Parcel:
    """One parcel for several packed volumes: stacked, as the packing rule stacks boxes."""
    if len(parcels) == 1:
        return parcels[0]
    return Parcel(
        weight_grams=sum(p.weight_grams for p in parcels),
        length_mm=max(p.length_mm for p in parcels),
        width_mm=max(p.width_mm for p in parcels),
        height_mm=sum(p.height_mm for p in parcels),
        items=sum(p.items for p in parcels),
        declared_amount=sum(p.declared_amount for p in parcels),
    )


def parcel_body(parcel: Parcel) -> dict[str, float]:
    """A parcel in EasyPost's units: inches and ounces."""
    return {
        "length": inches(parcel.length_mm),
        "width": inches(parcel.width_mm),
        "height": inches(parcel.height_mm),
        "weight": ounces(parcel.weight_grams),
    }


def to_minor(amount: Decimal, currency: str) -> int:
    """A decimal price in ``currency``'s minor units, rounded up."""
    scaled = amount.scaleb(minor_unit_exponent(currency))
    return int(scaled.to_integral_value(rounding=ROUND_CEILING))


def service_label(rate: EasyPostRate) -> str:
    """What the shipment stores as its service: ``USPS Priority`` (carrier, then service)."""
    return f"{rate.carrier} {rate.service}"[:60]


def _matches(rate: EasyPostRate, service: str) -> bool:
    carrier, _, name = service.strip().partition(" ")
    return rate.carrier.lower() == carrier.lower() and rate.service.lower() == name.lower()


def _street1(request: LabelRequest, country: str) -> str:
    if country in ("US", "CA"):  # house number first
        return " ".join(p for p in (request.destination_number, request.destination_street) if p)
    return ", ".join(p for p in (request.destination_street, request.destination_number) if p)


class EasyPostCarrier:
    """See the module docstring. Each method raises ProviderUnavailable (retry later) or
    ProviderRejected (terminal)."""

    name = PROVIDER

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Any = None,
    ) -> None:
        self.session_factory = session_factory
        self.sleep = sleep

    def gateway(self) -> EasyPostGateway:
        session = self.session_factory() if self.session_factory else None
        return EasyPostGateway.from_settings(session=session, sleep=self.sleep)

    def _from(self) -> dict[str, Any]:
        return {
            "name": settings.EASYPOST_FROM_NAME,
            "company": settings.EASYPOST_FROM_COMPANY,
            "street1": settings.EASYPOST_FROM_STREET1,
            "street2": settings.EASYPOST_FROM_STREET2,
            "city": settings.EASYPOST_FROM_CITY,
            "state": settings.EASYPOST_FROM_STATE,
            "zip": settings.EASYPOST_FROM_ZIP,
            "country": settings.EASYPOST_FROM_COUNTRY,
            "phone": settings.EASYPOST_FROM_PHONE,
            "email": settings.EASYPOST_FROM_EMAIL,
        }

    # Quotes ------------------------------------------------------------------------------

    def quote(self, *, request: QuoteRequest) -> list[Quote]:
        """A shipment (reference ``request.reference``) with the stacked parcel in inches and
        ounces; one Quote per rate, of ``EASYPOST_CARRIERS`` only when that is set. Creating a
        shipment buys nothing."""
        destination = request.destination_postal_code.strip()
        if not destination:
            raise ProviderRejected(
                f"{PROVIDER}: a quote needs the destination postal code.", provider=PROVIDER
            )
        parcel = stacked(
            parcels_or_default(
                request.parcels, items=request.items, declared_amount=request.declared_amount
            )
        )
        shipment = self.gateway().create_shipment(
            reference=request.reference,
            from_address=self._from(),
            to_address={"zip": destination, "country": settings.EASYPOST_FROM_COUNTRY},
            parcel=parcel_body(parcel),
            operation="quote",
        )
        wanted = {c.strip().lower() for c in settings.EASYPOST_CARRIERS.split(",") if c.strip()}
        quotes = [
            Quote(
                service=service_label(rate),
                amount=to_minor(rate.amount, rate.currency),
                currency=rate.currency,
                days=rate.delivery_days or 0,
                service_id=f"{rate.carrier}:{rate.service}",
            )
            for rate in shipment.rates
            if rate.currency and (not wanted or rate.carrier.lower() in wanted)
        ]
        return sorted(quotes, key=lambda q: (q.amount, q.days))

    # Labels ------------------------------------------------------------------------------

    def _create(self, gateway: EasyPostGateway, request: LabelRequest) -> EasyPostShipment:
        country = (request.destination_country or settings.EASYPOST_FROM_COUNTRY).upper()
        parcel = stacked(
            parcels_or_default(
                request.parcels, items=request.items, declared_amount=request.declared_amount
            )
        )
        return gateway.create_shipment(
            reference=request.reference,
            from_address=self._from(),
            to_address={
                "name": request.recipient_name,
                "street1": _street1(request, country),
                "street2": request.destination_complement,
                "city": request.destination_city,
                "state": request.destination_state,
                "zip": request.destination_postal_code.strip(),
                "country": country,
                "phone": request.recipient_phone,
                "email": request.recipient_email,
            },
            parcel=parcel_body(parcel),
        )

    def _shipment(self, gateway: EasyPostGateway, request: LabelRequest) -> EasyPostShipment:
        """The EasyPost shipment carrying ``request.reference``, created when there is none.
        A create that may have gone through (timeout, 5xx) is looked up again before failing."""
        found = gateway.retrieve_shipment(request.reference)
        if found is not None:
            return found
        try:
            return self._create(gateway, request)
        except ProviderUnavailable:
            found = gateway.retrieve_shipment(request.reference)
            if found is None:
                raise
            return found

    def buy_label(self, *, request: LabelRequest) -> Label:
        """The label for ``request.reference``, bought once however often this is called (see
        the module docstring). Raises ProviderRejected when no rate of the shipment is
        ``request.service`` or EasyPost refuses the purchase."""
        gateway = self.gateway()
        shipment = self._shipment(gateway, request)
        if not shipment.bought:
            rate = next((r for r in shipment.rates if _matches(r, request.service)), None)
            if rate is None:
                raise ProviderRejected(
                    f"{PROVIDER}: shipment {shipment.id} has no rate for {request.service!r}.",
                    provider=PROVIDER,
                    operation="label.buy",
                )
            try:
                shipment = gateway.buy_shipment(shipment.id, rate_id=rate.id)
            except ProviderUnavailable:
                again = gateway.retrieve_shipment(shipment.id)
                if again is None or not again.bought:
                    raise
                shipment = again
        if not shipment.tracking_code or not shipment.label_url:
            raise ProviderUnavailable(
                f"{PROVIDER}: shipment {shipment.id} has no label or tracking code yet.",
                provider=PROVIDER,
                operation="label.buy",
            )
        return Label(
            tracking_code=shipment.tracking_code,
            provider_shipment_id=shipment.id,
            label_url=shipment.label_url,
        )

    def void_label(self, *, provider_shipment_id: str, reason: str = "") -> None:
        """``POST /v2/shipments/{id}/refund``: the postage is refunded. Idempotent: a refund
        already submitted or done is left alone. Raises ProviderRejected when EasyPost refuses
        (the parcel was scanned, the label is too old) or rejects the refund."""
        gateway = self.gateway()
        shipment = gateway.retrieve_shipment(provider_shipment_id)
        if shipment is None:
            raise ProviderRejected(
                f"{PROVIDER}: no shipment {provider_shipment_id}.",
                provider=PROVIDER,
                status_code=404,
            )
        if shipment.refund_status in REFUNDED:
            return
        if shipment.refund_status != "rejected":
            shipment = gateway.refund_shipment(shipment.id)
        if shipment.refund_status not in REFUNDED:
            raise ProviderRejected(
                f"{PROVIDER}: the refund of {shipment.id} was {shipment.refund_status or 'refused'}.",
                provider=PROVIDER,
                operation="label.refund",
            )

    # Tracking ----------------------------------------------------------------------------

    def track(self, *, tracking_code: str) -> list[TrackingFact]:
        """The tracker's scans, oldest first (the tracker is created when EasyPost has none for
        the code); a tracker without scans answers its own status at its update time."""
        gateway = self.gateway()
        tracker = gateway.find_tracker(tracking_code) or gateway.create_tracker(tracking_code)
        return tracking_facts(tracker)


def tracking_facts(tracker: EasyPostTracker) -> list[TrackingFact]:
    """One fact per scan with a time, oldest first."""
    facts = []
    for scan in tracker.scans:
        if scan.occurred_at is None:
            continue
        normalised, shipment_status = ep_status(scan.status, scan.status_detail)
        facts.append(
            TrackingFact(
                status=str(shipment_status or ""),
                occurred_at=scan.occurred_at,
                location=scan.location,
                description=scan.message,
                tracking_status=str(normalised),
                carrier_code=carrier_code(scan.status, scan.status_detail),
            )
        )
    if not facts and tracker.updated_at is not None and tracker.status:
        normalised, shipment_status = ep_status(tracker.status, tracker.status_detail)
        facts.append(
            TrackingFact(
                status=str(shipment_status or ""),
                occurred_at=tracker.updated_at,
                tracking_status=str(normalised),
                carrier_code=carrier_code(tracker.status, tracker.status_detail),
            )
        )
    return facts
