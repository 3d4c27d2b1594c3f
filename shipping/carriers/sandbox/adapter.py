"""The sandbox carrier: answers like a real one and reports tracking by webhook.

Quotes are a deterministic function of the parcel (``economy`` is cheaper and slower than
``express``). A label's tracking code, shipment id and URL derive from the request reference, so
buying twice for the same reference returns the same label, like a real carrier with idempotency
keys. Each label is followed by four ``tracking.updated`` webhooks: posted, in transit, out for
delivery, delivered, one second apart.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from integrations.sandbox import SandboxEvent, sandbox_emit, sandbox_maybe_fail
from shipping.carriers.base import Label, LabelRequest, Quote, QuoteRequest, TrackingFact

ENDPOINT = "sandbox-shipping"
EVENT_TYPE = "tracking.updated"
LABEL_HOST = "https://labels.sandbox.invalid"


@dataclass(frozen=True)
class _Service:
    name: str
    base_amount: int
    per_extra_item: int
    days: int


SERVICES = (
    _Service("economy", base_amount=1890, per_extra_item=350, days=8),
    _Service("express", base_amount=3490, per_extra_item=600, days=2),
)
# (status, location, description), in the order a parcel goes through them.
JOURNEY = (
    ("posted", "Sao Paulo, SP", "Parcel posted"),
    ("in_transit", "Campinas, SP", "In transit to the destination unit"),
    ("out_for_delivery", "Rio de Janeiro, RJ", "Out for delivery"),
    ("delivered", "Rio de Janeiro, RJ", "Delivered to the recipient"),
)


def _digest(reference: str) -> str:
    return hashlib.sha256(reference.encode()).hexdigest()


def sandbox_tracking_code(reference: str) -> str:
    """``SB`` + 9 digits + ``BR``, the shape of a Correios code, derived from ``reference``."""
    return f"SB{int(_digest(reference), 16) % 10**9:09d}BR"


class SandboxCarrier:
    """In-process carrier for the demo and tests. ``quote`` and ``buy_label`` may raise
    ProviderUnavailable at ``SANDBOX_CHAOS_FAILURE_RATE``; nothing else fails."""

    name = "sandbox"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracking: dict[str, list[TrackingFact]] = {}

    def quote(self, *, request: QuoteRequest) -> list[Quote]:
        """One quote per service, cheapest first; 1% of the declared value is added as insurance."""
        sandbox_maybe_fail(self.name)
        items = max(request.items, 1)
        insurance = max(request.declared_amount, 0) // 100
        return [
            Quote(
                service=service.name,
                amount=service.base_amount + service.per_extra_item * (items - 1) + insurance,
                currency=request.currency,
                days=service.days,
            )
            for service in SERVICES
        ]

    def buy_label(self, *, request: LabelRequest) -> Label:
        """The label for ``request.reference`` (the same one on every call), then schedules the
        parcel's four tracking webhooks for after the caller commits. A repeated call schedules
        them again, as an at-least-once carrier would; the tracking handler is idempotent."""
        sandbox_maybe_fail(self.name)
        digest = _digest(request.reference)
        label = Label(
            tracking_code=sandbox_tracking_code(request.reference),
            provider_shipment_id=f"sbx_shp_{digest[:24]}",
            label_url=f"{LABEL_HOST}/{digest[:24]}.pdf",
        )
        now = timezone.now()
        facts = [
            TrackingFact(
                status=status,
                occurred_at=now + timedelta(seconds=step),
                location=location,
                description=description,
            )
            for step, (status, location, description) in enumerate(JOURNEY, start=1)
        ]
        with self._lock:
            self._tracking[label.tracking_code] = facts
        sandbox_emit(
            endpoint=ENDPOINT,
            events=[
                SandboxEvent(
                    EVENT_TYPE,
                    {
                        "reference": request.reference,
                        "tracking_code": label.tracking_code,
                        "status": fact.status,
                        "location": fact.location,
                        "description": fact.description,
                    },
                    fact.occurred_at,
                )
                for fact in facts
            ],
        )
        return label

    def void_label(self, *, provider_shipment_id: str, reason: str = "") -> None:
        """Nothing to refund in the sandbox; may fail at SANDBOX_CHAOS_FAILURE_RATE."""
        sandbox_maybe_fail(self.name)

    def track(self, *, tracking_code: str) -> list[TrackingFact]:
        """The facts this process scheduled for the code, oldest first; empty when unknown."""
        with self._lock:
            return list(self._tracking.get(tracking_code, ()))
