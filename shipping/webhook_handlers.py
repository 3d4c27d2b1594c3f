"""Tracking events in the common shape, mapped to ``TrackingFact``.

Shared by every carrier whose events reduce to the same fact: the payload's ``data`` carries
``reference`` (our ``shipment:<pk>``), ``tracking_code``, the carrier's ``status`` code and
optionally ``location`` and ``description``; the event's time is the scan's. The code is
normalised by the carrier's table (``normalise``); a code the table does not know is kept as
``unknown`` and flagged for ops. ``shipping.facts`` applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from shipping.carriers.sandbox.tracking import sandbox_status
from shipping.facts import TrackingFact, tracking_fact_apply
from shipping.models import ShipmentStatus, TrackingStatus

Normaliser = Callable[[str], tuple[TrackingStatus, ShipmentStatus | None]]


def tracking_fact_from(
    data: Mapping[str, Any],
    parsed: ParsedWebhook,
    *,
    carrier: str,
    normalise: Normaliser = sandbox_status,
) -> TrackingFact:
    code = str(data.get("status", ""))[:60]
    tracking_status, status = normalise(code)
    description = str(data.get("description", ""))
    return TrackingFact(
        carrier=carrier,
        reference=str(data.get("reference", "")),
        tracking_code=str(data.get("tracking_code", "")).strip(),
        status=status,
        tracking_status=tracking_status,
        occurred_at=parsed.occurred_at,
        location=str(data.get("location", "")),
        description=description,
        carrier_code=code,
        carrier_message=description,
    )


def tracking_fact_handlers(
    *, carrier: str, normalise: Normaliser = sandbox_status
) -> dict[str, Handler]:
    """The handlers for an endpoint whose scans are ``carrier``'s."""

    @in_event_context
    def tracking_updated(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        fact = tracking_fact_from(
            parsed.payload["data"], parsed, carrier=carrier, normalise=normalise
        )
        return HandlerOutcome(affected=tracking_fact_apply(fact=fact).affected)

    return {"tracking.updated": tracking_updated}


TRACKING_FACT_HANDLERS = tracking_fact_handlers(carrier="sandbox")
