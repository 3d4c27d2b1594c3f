"""The shipping family's fact: what a carrier's tracking says, and the one function applying it.

A carrier's webhook module only verifies a delivery and maps it to a ``TrackingFact`` carrying
the carrier's own scan time; ``tracking_fact_apply`` finds the shipment, checks the tracking
code and applies the scan under the shipment's watermark (``last_tracking_at``: an older scan
is a no-op) and the transitions, so any permutation of the same scans, duplicates included,
ends where the newest one says.

Every scan is also kept as a ``TrackingEvent`` (normalised status, the carrier's code and
message, location), once per (shipment, code, time), and put on the order's and customer's
timelines: a scan that moves the shipment through its ``shipment.<status>`` event, any other one
(pre-transit, a delay, a repeated status, an unknown code) through ``shipment.tracking_update``.
An unknown carrier code is never dropped: its event is flagged for ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from integrations.exceptions import InvalidTransition
from integrations.facts import FactOutcome, ObjectNotReady, referenced
from integrations.webhooks.registry import MalformedWebhook
from shipping.exceptions import TrackingCodeMismatch
from shipping.models import (
    SHIPMENT_STATUS_FOR,
    TRACKING_STATUS_OF,
    TRACKING_STATUSES,
    Shipment,
    ShipmentStatus,
    TrackingStatus,
)
from shipping.services import shipment_record_tracking_event, shipment_track_fact

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TrackingFact:
    """One tracking scan: the shipment is ``reference`` (ours, ``shipment:<pk>``)."""

    carrier: str
    reference: str
    tracking_code: str
    status: ShipmentStatus | None
    """Where the scan moves the shipment; None keeps it where it is (the event is still kept)."""
    occurred_at: datetime | None
    location: str = ""
    description: str = ""
    tracking_status: TrackingStatus | None = None
    """The normalised status; derived from ``status`` when not given."""
    carrier_code: str = ""
    carrier_message: str = ""

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in TRACKING_STATUSES:
            raise MalformedWebhook(f"{self.status!r} is not a tracking status.")
        if self.tracking_status is None:
            if self.status is None:
                raise MalformedWebhook("A tracking fact needs a status or a tracking status.")
            object.__setattr__(self, "tracking_status", TRACKING_STATUS_OF[self.status])

    @classmethod
    def normalised(
        cls, *, tracking_status: TrackingStatus, status: ShipmentStatus | None = None, **fields: Any
    ) -> TrackingFact:
        """A fact from a carrier's normalised status (``status`` overrides where the shipment
        goes, e.g. posted for a posting scan that is ``in_transit``)."""
        target = status if status is not None else SHIPMENT_STATUS_FOR[tracking_status]
        return cls(status=target, tracking_status=tracking_status, **fields)


def tracking_fact_apply(*, fact: TrackingFact) -> FactOutcome:
    """Apply one tracking scan to its shipment (``shipment_track_fact``). Raises ObjectNotReady
    while the shipment is not recorded or has no label yet (the inbox retries) and
    TrackingCodeMismatch when the code is not the shipment's."""
    shipment: Shipment = referenced(Shipment, {"reference": fact.reference})
    if shipment.status == ShipmentStatus.PENDING or not shipment.tracking_code:
        raise ObjectNotReady(f"{shipment} has no label recorded yet.")
    if fact.tracking_code != shipment.tracking_code:
        raise TrackingCodeMismatch(
            f"{shipment}: the carrier says tracking code {fact.tracking_code or '(none)'}, "
            f"we have {shipment.tracking_code}."
        )
    assert fact.tracking_status is not None  # set by __post_init__
    moved = False
    if fact.status is not None:
        before = (shipment.status, shipment.last_tracking_at)
        try:
            shipment = shipment_track_fact(
                shipment=shipment,
                status=fact.status,
                occurred_at=fact.occurred_at,
                location=fact.location,
                description=fact.description or fact.carrier_message,
            )
        except InvalidTransition as exc:  # a final status (delivered, returned) stays
            log.info("webhook.fact_superseded", carrier=fact.carrier, detail=str(exc))
        moved = shipment.status != before[0]
    shipment_record_tracking_event(
        shipment=shipment,
        status=fact.tracking_status,
        carrier_code=fact.carrier_code or str(fact.status or ""),
        carrier_message=fact.carrier_message or fact.description,
        location=fact.location,
        occurred_at=fact.occurred_at,
        on_timeline=not moved,
    )
    return FactOutcome(affected=(shipment,), target=shipment)
