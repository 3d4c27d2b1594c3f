"""Tracking events in the common shape, mapped to ``TrackingFact``.

Shared by every carrier whose events reduce to the same fact: the payload's ``data`` carries
``reference`` (our ``shipment:<pk>``), ``tracking_code``, a normalised ``status`` and optionally
``location`` and ``description``; the event's time is the scan's. ``shipping.facts`` applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, MalformedWebhook, ParsedWebhook
from shipping.facts import TrackingFact, tracking_fact_apply
from shipping.models import TRACKING_STATUSES, ShipmentStatus


def tracking_fact_from(
    data: Mapping[str, Any], parsed: ParsedWebhook, *, carrier: str
) -> TrackingFact:
    """Raises MalformedWebhook for a status tracking does not report (the event is dead at once)."""
    status = str(data.get("status", ""))
    if status not in TRACKING_STATUSES:
        raise MalformedWebhook(f"{status!r} is not a tracking status.")
    return TrackingFact(
        carrier=carrier,
        reference=str(data.get("reference", "")),
        tracking_code=str(data.get("tracking_code", "")).strip(),
        status=ShipmentStatus(status),
        occurred_at=parsed.occurred_at,
        location=str(data.get("location", "")),
        description=str(data.get("description", "")),
    )


def tracking_fact_handlers(*, carrier: str) -> dict[str, Handler]:
    """The handlers for an endpoint whose scans are ``carrier``'s."""

    @in_event_context
    def tracking_updated(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        fact = tracking_fact_from(parsed.payload["data"], parsed, carrier=carrier)
        return HandlerOutcome(affected=tracking_fact_apply(fact=fact).affected)

    return {"tracking.updated": tracking_updated}


TRACKING_FACT_HANDLERS = tracking_fact_handlers(carrier="sandbox")
