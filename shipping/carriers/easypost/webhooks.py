"""``POST /webhooks/easypost/``: ``tracker.updated`` (and ``tracker.created``) events, verified
and mapped to TrackingFacts.

``X-Hmac-Signature`` is ``hmac-sha256-hex=`` + the hex HMAC-SHA256 of the raw body keyed with the
NFKD-normalised webhook secret (``EASYPOST_WEBHOOK_SECRET``; during a rotation also
``EASYPOST_WEBHOOK_SECRET_PREVIOUS``), checked by the SDK's own ``validate_webhook``. A missing,
forged or retired-secret signature is 401 and nothing is stored as processable. EasyPost signs no
timestamp (CONTRACTS §4), and it retries for about 24 h, so a delivery is not refused for age.

The event id (``evt_...``) dedupes redeliveries. A tracker event carries the tracker's whole
history (``tracking_details``); every scan is applied, oldest first, through
``tracking_fact_apply`` (watermark, transitions, one TrackingEvent per scan), so duplicated and
out-of-order events end in the same state. The tracker names EasyPost's shipment id and the
tracking code, not our reference: the shipment is found by them.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from easypost.errors import SignatureVerificationError
from easypost.util import validate_webhook

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    load_json,
)
from shipping.carriers.easypost.adapter import tracking_facts
from shipping.carriers.easypost.client import PROVIDER, tracker_from
from shipping.carriers.easypost.tracking import parse_ep_time
from shipping.facts import TrackingFact, tracking_fact_apply
from shipping.models import ShipmentStatus, TrackingStatus
from shipping.selectors import shipment_reference_by_carrier_ids

SIGNATURE_HEADER = "x-hmac-signature"
MAX_SIGNATURE_LENGTH = 200
TRACKER_EVENTS = ("tracker.created", "tracker.updated")


def _secrets() -> list[str]:
    values = [
        settings.EASYPOST_WEBHOOK_SECRET,
        getattr(settings, "EASYPOST_WEBHOOK_SECRET_PREVIOUS", ""),
    ]
    return [v for v in values if v]


def signature_valid(*, body: bytes, signature: str, secret: str) -> bool:
    """The SDK's check (``easypost.util.validate_webhook``) of one secret, in constant time."""
    try:
        validate_webhook(body, {"X-Hmac-Signature": signature}, secret)
    except SignatureVerificationError:
        return False
    except (ValueError, RecursionError):  # signed, but not JSON: parse() answers 400
        return True
    return True


def tracking_facts_from(parsed: ParsedWebhook) -> list[TrackingFact]:
    tracker = tracker_from(parsed.payload["result"])
    reference = shipment_reference_by_carrier_ids(
        carrier=PROVIDER,
        provider_shipment_id=tracker.shipment_id,
        tracking_code=tracker.tracking_code,
    )
    return [
        TrackingFact(
            carrier=PROVIDER,
            reference=reference,
            tracking_code=tracker.tracking_code,
            status=ShipmentStatus(scan.status) if scan.status else None,
            tracking_status=TrackingStatus(scan.tracking_status),
            occurred_at=scan.occurred_at,
            location=scan.location,
            description=scan.description,
            carrier_code=scan.carrier_code,
            carrier_message=scan.description or parsed.event_type,
        )
        for scan in tracking_facts(tracker)
    ]


@in_event_context
def handle_tracker_event(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    affected: list = []
    for fact in tracking_facts_from(parsed):
        for row in tracking_fact_apply(fact=fact).affected:
            if row not in affected:
                affected.append(row)
    return HandlerOutcome(affected=tuple(affected))


class EasyPostWebhookEndpoint:
    name = "easypost"
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        secrets = _secrets()
        if not secrets:
            raise SignatureRejected("No EASYPOST_WEBHOOK_SECRET configured.")
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
        if not given:
            raise SignatureRejected(f"Missing {SIGNATURE_HEADER} header.")
        if len(given) > MAX_SIGNATURE_LENGTH or not given.isascii():
            raise SignatureRejected(f"Malformed {SIGNATURE_HEADER} header.")
        matched = False
        for secret in secrets:  # every secret is tried: no timing hint of which one matched
            matched |= signature_valid(body=body, signature=given.strip(), secret=secret)
        if not matched:
            raise SignatureRejected(f"Wrong {SIGNATURE_HEADER}.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        payload = load_json(body)
        if not isinstance(payload, dict) or payload.get("object") != "Event":
            raise MalformedWebhook('Body must be an EasyPost Event ("object": "Event").')
        event_id, event_type = payload.get("id"), payload.get("description")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 100:
            raise MalformedWebhook('An event must carry its "id".')
        if not isinstance(event_type, str) or not event_type:
            raise MalformedWebhook('An event must carry its type in "description".')
        result = payload.get("result")
        if event_type in TRACKER_EVENTS and (
            not isinstance(result, dict)
            or result.get("object") != "Tracker"
            or not isinstance(result.get("tracking_code"), str)
            or not result["tracking_code"].strip()
            or not isinstance(result.get("tracking_details", []), list)
        ):
            raise MalformedWebhook("A tracker event must carry the Tracker with its tracking code.")
        object_id = result.get("id") if isinstance(result, dict) else ""
        return ParsedWebhook(
            event_id=event_id,
            event_type=event_type[:100],
            payload=payload,
            occurred_at=parse_ep_time(payload.get("updated_at") or payload.get("created_at")),
            object_id=object_id[:200] if isinstance(object_id, str) else "",
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return handle_tracker_event if event_type in TRACKER_EVENTS else None


endpoint = EasyPostWebhookEndpoint()
