"""``POST /webhooks/hubspot/``: batched webhook events, verified with X-HubSpot-Signature-v3.

Signature (CONTRACTS §8): ``base64(HMAC-SHA256(client_secret, method + uri + body + ts))``
where ``uri`` is the full URL as HubSpot called it (scheme, host, path and query in their
order; the percent-encodings HubSpot's docs list are decoded first) and ``ts`` the
``X-HubSpot-Request-Timestamp`` header (unix milliseconds), refused when more than 5 minutes
from now. Forged, missing or stale: 401, counted and sampled by the inbox, nothing stored.

The body is a JSON array of events. The delivery is stored once (its id derived from the
events' ids); its handler then stores each event as its own inbox row keyed by HubSpot's
``eventId``, so an event seen before (a retried batch, a re-batched event, the same event read
from the Webhooks Journal) is a no-op. Each event row is then handled by its
``subscriptionType``:

* ``contact.propertyChange`` of a CRM-owned property (``hubspot_owner_id``, ``lifecyclestage``,
  ``dealstage``) -> ``crm_change_apply``; of a Switchboard-owned one (name, e-mail, phone,
  lifetime value, orders count) -> ignored and logged (docs/crm.md);
* ``deal.propertyChange`` of ``dealstage`` -> ``crm_deal_stage_record`` (its contacts are read
  from HubSpot by a subscriber, outside the inbox transaction).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from django.conf import settings

from accounts.crm.base import SWITCHBOARD_OWNED_PROPERTIES, CrmChangeFact
from accounts.crm.hubspot.client import PROVIDER
from accounts.crm.services import crm_change_apply, crm_deal_stage_record
from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.inbox import webhook_event_store
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    bounded_time,
    load_json,
)

log = structlog.get_logger(__name__)

SLUG = "hubspot"
SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
MAX_AGE_MS = 300_000
MAX_SIGNATURE_LENGTH = 200
MAX_EVENTS = 1000
BATCH = "batch"
CRM_OWNED_PROPERTIES = {
    "hubspot_owner_id": "owner",
    "lifecyclestage": "lifecycle_stage",
    "dealstage": "deal_stage",
}
"""HubSpot contact property -> the CrmRecord field it sets."""
# The characters HubSpot's docs ask to decode in the URI before signing (CONTRACTS §8).
DECODED_IN_URI = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def _secrets() -> list[str]:
    values = [settings.HUBSPOT_CLIENT_SECRET, settings.HUBSPOT_CLIENT_SECRET_PREVIOUS]
    return [v for v in values if v]


def signing_uri(uri: str) -> str:
    for encoded, char in DECODED_IN_URI.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def sign_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The X-HubSpot-Signature-v3 of a request."""
    source = method.upper().encode() + signing_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedWebhook(f"{what} must be an integer.")
    return value


def _ms_time(value: Any) -> datetime:
    ms = _int(value, "occurredAt")
    try:
        return bounded_time(datetime.fromtimestamp(ms / 1000, tz=UTC))
    except (OverflowError, OSError, ValueError):
        raise MalformedWebhook("occurredAt is out of range.") from None


def element_parsed(element: Any) -> ParsedWebhook:
    """One HubSpot event (from a webhook batch or the journal) as an inbox event keyed by its
    ``eventId``. Raises MalformedWebhook."""
    if not isinstance(element, dict):
        raise MalformedWebhook("Each event must be an object.")
    event_id = _int(element.get("eventId"), "eventId")
    kind = element.get("subscriptionType")
    if not isinstance(kind, str) or not kind or len(kind) > 100:
        raise MalformedWebhook("subscriptionType must be a short string.")
    object_id = _int(element.get("objectId"), "objectId")
    for name in ("propertyName", "propertyValue"):
        if element.get(name) is not None and not isinstance(element[name], str):
            raise MalformedWebhook(f"{name} must be a string.")
    return ParsedWebhook(
        event_id=f"hs_{event_id}",
        event_type=kind,
        payload=element,
        occurred_at=_ms_time(element.get("occurredAt")),
        object_id=str(object_id),
    )


@in_event_context
def handle_batch(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """Store each event of the batch as its own inbox row (deduplicated by ``eventId``)."""
    for element in parsed.payload["events"]:
        webhook_event_store(
            provider=SLUG,
            parsed=element_parsed(element),
            headers=event.headers,
            body=json.dumps(element, separators=(",", ":")),
        )
    return HandlerOutcome()


def _property(parsed: ParsedWebhook) -> tuple[str, str]:
    return str(parsed.payload.get("propertyName") or ""), str(
        parsed.payload.get("propertyValue") or ""
    )


@in_event_context
def handle_contact_property(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    name, value = _property(parsed)
    field = CRM_OWNED_PROPERTIES.get(name)
    if field is None:
        if name in SWITCHBOARD_OWNED_PROPERTIES:
            log.warning(
                "crm.inbound_change_to_switchboard_owned_property_ignored",
                property=name,
                contact_id=parsed.object_id,
            )
        else:
            log.info("crm.inbound_property_not_synced", property=name)
        return HandlerOutcome()
    assert parsed.occurred_at is not None
    record = crm_change_apply(
        fact=CrmChangeFact(PROVIDER, parsed.object_id, field, value, parsed.occurred_at)
    )
    return HandlerOutcome(affected=(record,) if record is not None else ())


@in_event_context
def handle_deal_property(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    name, value = _property(parsed)
    if name == "dealstage" and value:
        assert parsed.occurred_at is not None
        crm_deal_stage_record(
            provider=PROVIDER, deal_id=parsed.object_id, stage=value, occurred_at=parsed.occurred_at
        )
    return HandlerOutcome()


class HubSpotWebhookEndpoint:
    name = SLUG
    secret_headers = frozenset({SIGNATURE_HEADER, "x-hubspot-signature"})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        raise SignatureRejected("HubSpot signatures cover the request URI: use verify_request.")

    def verify_request(
        self,
        *,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        body: bytes,
        now_ms: int | None = None,
    ) -> None:
        """Raise SignatureRejected unless the v3 signature over ``method + uri + body +
        timestamp`` matches a client secret and the timestamp is within 5 minutes."""
        secrets = _secrets()
        if not secrets:
            raise SignatureRejected("No HUBSPOT_CLIENT_SECRET configured.")
        given = _header(headers, SIGNATURE_HEADER).strip()
        stamp = _header(headers, TIMESTAMP_HEADER).strip()
        if not given or not stamp:
            raise SignatureRejected("Missing X-HubSpot-Signature-v3 or its timestamp.")
        if len(given) > MAX_SIGNATURE_LENGTH:
            raise SignatureRejected("Signature header too long.")
        if len(stamp) > 16 or not (stamp.isascii() and stamp.isdigit()):
            raise SignatureRejected("Malformed X-HubSpot-Request-Timestamp.")
        now_ms = now_ms if now_ms is not None else round(time.time() * 1000)
        if abs(now_ms - int(stamp)) > MAX_AGE_MS:
            raise SignatureRejected("X-HubSpot-Request-Timestamp outside the 5-minute window.")
        matched = False
        for secret in secrets:
            expected = sign_v3(secret=secret, method=method, uri=uri, body=body, timestamp=stamp)
            matched |= hmac.compare_digest(given.encode(), expected.encode())
        if not matched:
            raise SignatureRejected("Wrong X-HubSpot-Signature-v3.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        payload = load_json(body)
        if isinstance(payload, dict):  # one event, stored by a batch's handler or the journal
            return element_parsed(payload)
        if not isinstance(payload, list) or not payload:
            raise MalformedWebhook("Body must be a non-empty array of events.")
        if len(payload) > MAX_EVENTS:
            raise MalformedWebhook(f"More than {MAX_EVENTS} events in one delivery.")
        parsed = [element_parsed(element) for element in payload]
        ids = ",".join(sorted(p.event_id for p in parsed))
        return ParsedWebhook(
            event_id=f"hs_batch_{hashlib.sha256(ids.encode()).hexdigest()[:40]}",
            event_type=BATCH,
            payload={"events": payload},
            occurred_at=max(p.occurred_at for p in parsed if p.occurred_at is not None),
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return {
            BATCH: handle_batch,
            "contact.propertyChange": handle_contact_property,
            "deal.propertyChange": handle_deal_property,
        }.get(event_type)


endpoint = HubSpotWebhookEndpoint()
