"""``POST /webhooks/melhor-envio/``: ``order.*`` events, verified and mapped to TrackingFacts.

``X-ME-Signature`` is HMAC-SHA256 of the raw body keyed with the app's client secret
(``MELHOR_ENVIO_CLIENT_SECRET``; during a rotation also ``MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS``).
Its encoding is UNCONFIRMED (CONTRACTS §3), so base64 and hex are both accepted, compared in
constant time. Anything else (missing, forged, made with a retired secret) is 401 and nothing
is stored as processable.

The envelope is ``{"event": "order.posted", "data": {...order...}}`` with no event id: the id
is derived from the event, the order id, its status and that status's time, so a redelivery is
the same event. Our shipment is named by the order's tag (``shipment:<pk>``, set when the cart
was made); the tracking code is Melhor Envio's own (``self_tracking``), the one recorded on the
label, else the carrier's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings

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
from shipping.carriers.melhor_envio.client import PROVIDER
from shipping.carriers.melhor_envio.tracking import me_status, status_time
from shipping.facts import TrackingFact, tracking_fact_apply

SIGNATURE_HEADER = "x-me-signature"
MAX_SIGNATURE_LENGTH = 200


def _secrets() -> list[str]:
    values = [
        settings.MELHOR_ENVIO_CLIENT_SECRET,
        getattr(settings, "MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS", ""),
    ]
    return [v for v in values if v]


def signatures(secret: str, body: bytes) -> tuple[str, str]:
    """The base64 and hex forms of HMAC-SHA256(secret, body)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode(), digest.hex()


def _reference(data: Mapping[str, Any]) -> str:
    for tag in data.get("tags") or []:
        if isinstance(tag, dict) and str(tag.get("tag", "")).startswith("shipment:"):
            return str(tag["tag"])
    return ""


def tracking_fact_from(parsed: ParsedWebhook) -> TrackingFact:
    data = parsed.payload["data"]
    code = str(data.get("status") or parsed.event_type.removeprefix("order."))[:60]
    normalised, status = me_status(code)
    return TrackingFact(
        tracking_status=normalised,
        status=status,
        carrier=PROVIDER,
        reference=_reference(data),
        tracking_code=str(data.get("self_tracking") or data.get("tracking") or "").strip(),
        occurred_at=parsed.occurred_at,
        carrier_code=code,
        carrier_message=parsed.event_type,
        location=str(data.get("location") or "")[:200],
    )


@in_event_context
def handle_order_event(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    return HandlerOutcome(affected=tracking_fact_apply(fact=tracking_fact_from(parsed)).affected)


class MelhorEnvioWebhookEndpoint:
    name = "melhor-envio"
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        secrets = _secrets()
        if not secrets:
            raise SignatureRejected("No MELHOR_ENVIO_CLIENT_SECRET configured.")
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
        if not given:
            raise SignatureRejected(f"Missing {SIGNATURE_HEADER} header.")
        if len(given) > MAX_SIGNATURE_LENGTH:
            raise SignatureRejected(f"{SIGNATURE_HEADER} header too long.")
        given_bytes = given.strip().encode()
        matched = False
        for secret in secrets:
            for expected in signatures(secret, body):
                matched |= hmac.compare_digest(given_bytes, expected.encode())
        if not matched:
            raise SignatureRejected(f"Wrong {SIGNATURE_HEADER}.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        payload = load_json(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            raise MalformedWebhook('Body must be an object with a string "event".')
        data = payload.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise MalformedWebhook('An order event must carry "data" with the order "id".')
        event_type: str = payload["event"][:100]
        status = str(data.get("status") or event_type.removeprefix("order."))[:60]
        occurred_at = status_time(data, status)
        seed = (
            f"{event_type}|{data['id']}|{status}|{occurred_at.isoformat() if occurred_at else ''}"
        )
        return ParsedWebhook(
            event_id=f"me_{hashlib.sha256(seed.encode()).hexdigest()[:40]}",
            event_type=event_type,
            payload=payload,
            occurred_at=occurred_at,
            object_id=data["id"][:200],
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return handle_order_event if event_type.startswith("order.") else None


endpoint = MelhorEnvioWebhookEndpoint()
