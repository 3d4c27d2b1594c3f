"""Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature), the scheme the sandbox
providers sign with. Verification is the official ``standardwebhooks`` library; several secrets may
be valid at once (rotation)."""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.webhooks.registry import (
    Handler,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
)

MAX_SIGNATURE_HEADER = 2048


def standard_webhooks_headers(
    *, secret: str, msg_id: str, body: str, at: datetime
) -> dict[str, str]:
    """Headers that sign ``body`` for ``msg_id`` at time ``at``."""
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


class StandardWebhooksEndpoint:
    """An endpoint whose deliveries look like ``{"type": "a.b", "timestamp": ISO, "data": {...}}``.

    ``secrets`` is read at each call (settings may rotate); ``object_id_path`` names the key under
    ``data`` that holds the provider's object id."""

    secret_headers = frozenset({"webhook-signature"})

    def __init__(
        self,
        *,
        name: str,
        secrets: Callable[[], Sequence[str]],
        handlers: Mapping[str, Handler],
        object_id_key: str = "id",
    ) -> None:
        self.name = name
        self._secrets = secrets
        self._handlers = dict(handlers)
        self._object_id_key = object_id_key

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        secrets = [s for s in self._secrets() if s]
        if not secrets:
            raise SignatureRejected(f"No webhook secret configured for {self.name}.")
        lowered = {k.lower(): v for k, v in headers.items()}
        if len(lowered.get("webhook-signature", "")) > MAX_SIGNATURE_HEADER:
            raise SignatureRejected("Signature header too long.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SignatureRejected("Body is not UTF-8.") from exc
        last_error = "No matching signature found"
        for secret in secrets:
            try:
                Webhook(secret).verify(text, lowered, json_parse=False)
                return
            except (WebhookVerificationError, ValueError, binascii.Error) as exc:
                last_error = str(exc) or type(exc).__name__
        raise SignatureRejected(last_error)

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedWebhook("Body is not JSON.") from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise MalformedWebhook('Body must be an object with a string "type".')
        data = payload.get("data")
        if not isinstance(data, dict):
            raise MalformedWebhook('Body must carry an object "data".')
        occurred_at = None
        if isinstance(payload.get("timestamp"), str):
            try:
                occurred_at = datetime.fromisoformat(payload["timestamp"])
            except ValueError as exc:
                raise MalformedWebhook("timestamp is not ISO 8601.") from exc
            if occurred_at.tzinfo is None:
                occurred_at = occurred_at.replace(tzinfo=UTC)
        return ParsedWebhook(
            event_id=lowered["webhook-id"],
            event_type=payload["type"],
            payload=payload,
            occurred_at=occurred_at,
            object_id=str(data.get(self._object_id_key, ""))[:200],
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return self._handlers.get(event_type)
