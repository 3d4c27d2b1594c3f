"""Applying a carrier's tracking facts through ``shipment_apply_tracking``.

Shared by every carrier whose events reduce to the same fact: the payload's ``data`` carries
``reference`` (our ``shipment:<pk>``), ``tracking_code``, a normalised ``status`` and optionally
``location`` and ``description``. Facts apply in any order: the service's watermark drops a fact
older than the last one applied, so every permutation ends in the same state.
"""

from __future__ import annotations

from integrations.facts import ObjectNotReady, apply_fact, referenced
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from shipping.exceptions import TrackingCodeMismatch
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_apply_tracking


def tracking_updated(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """Apply one tracking fact. Raises ObjectNotReady while the shipment has no label yet (the
    inbox retries), TrackingCodeMismatch when the code is not the shipment's, ValueError for a
    status tracking does not report."""
    data = parsed.payload["data"]
    shipment: Shipment = referenced(Shipment, data)
    if shipment.status == ShipmentStatus.PENDING or not shipment.tracking_code:
        raise ObjectNotReady(f"{shipment} has no label recorded yet.")
    tracking_code = str(data.get("tracking_code", "")).strip()
    if tracking_code != shipment.tracking_code:
        raise TrackingCodeMismatch(
            f"{shipment}: the carrier says tracking code {tracking_code or '(none)'}, "
            f"we have {shipment.tracking_code}."
        )
    return apply_fact(
        parsed,
        shipment,
        lambda: shipment_apply_tracking(
            shipment=shipment,
            status=str(data.get("status", "")),
            occurred_at=parsed.occurred_at,
            location=str(data.get("location", "")),
            description=str(data.get("description", "")),
        ),
    )


TRACKING_FACT_HANDLERS: dict[str, Handler] = {
    "tracking.updated": tracking_updated,
}
