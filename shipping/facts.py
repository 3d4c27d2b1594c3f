"""The shipping family's fact: what a carrier's tracking says, and the one function applying it.

A carrier's webhook module only verifies a delivery and maps it to a ``TrackingFact`` carrying
the carrier's own scan time; ``tracking_fact_apply`` finds the shipment, checks the tracking
code and applies the scan under the shipment's watermark (``last_tracking_at``: an older scan
is a no-op) and the transitions, so any permutation of the same scans, duplicates included,
ends where the newest one says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from integrations.exceptions import InvalidTransition
from integrations.facts import FactOutcome, ObjectNotReady, referenced
from integrations.webhooks.registry import MalformedWebhook
from shipping.exceptions import TrackingCodeMismatch
from shipping.models import TRACKING_STATUSES, Shipment, ShipmentStatus
from shipping.services import shipment_track_fact

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TrackingFact:
    """One tracking scan: the shipment is ``reference`` (ours, ``shipment:<pk>``)."""

    carrier: str
    reference: str
    tracking_code: str
    status: ShipmentStatus
    occurred_at: datetime | None
    location: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.status not in TRACKING_STATUSES:
            raise MalformedWebhook(f"{self.status!r} is not a tracking status.")


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
    try:
        shipment = shipment_track_fact(
            shipment=shipment,
            status=fact.status,
            occurred_at=fact.occurred_at,
            location=fact.location,
            description=fact.description,
        )
    except InvalidTransition as exc:  # a final status (delivered, returned) stays
        log.info("webhook.fact_superseded", carrier=fact.carrier, detail=str(exc))
    return FactOutcome(affected=(shipment,), target=shipment)
