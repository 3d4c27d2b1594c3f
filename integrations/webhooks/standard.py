"""Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature), the scheme the sandbox
providers sign with. The MAC is the official ``standardwebhooks`` library's; the headers are read
here, as the Go and JS reference libraries read them: the timestamp must be ASCII digits, and a
malformed entry in the space-separated signature list is skipped, not fatal. Several secrets may
be valid at once (rotation)."""

from __future__ import annotations

import binascii
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from integrations.webhooks.registry import (
    Handler,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    load_json,
)

MAX_SIGNATURE_HEADER = 2048
MAX_TIMESTAMP_DIGITS = 12
TOLERANCE_SECONDS = 300  # the reference libraries' ±5 minutes
ASCII_DIGITS = frozenset("0123456789")


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
        lowered = {k.lower(): v for k, v in headers.items()}
        msg_id = lowered.get("webhook-id", "")
        signatures = lowered.get("webhook-signature", "")
        if not (msg_id and signatures and lowered.get("webhook-timestamp")):
            raise SignatureRejected("Missing required headers")
        if len(signatures) > MAX_SIGNATURE_HEADER:
            raise SignatureRejected("Signature header too long.")
        signed_at = _fresh_timestamp(lowered["webhook-timestamp"])
        secrets = [s for s in self._secrets() if s]
        if not secrets:
            raise SignatureRejected(f"No webhook secret configured for {self.name}.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SignatureRejected("Body is not UTF-8.") from exc
        given = [
            signature.encode()
            for version, _, signature in (entry.partition(",") for entry in signatures.split(" "))
            if version == "v1" and signature
        ]
        for secret in secrets:
            try:
                expected = _signer(secret).sign(msg_id=msg_id, timestamp=signed_at, data=text)
            except (ValueError, binascii.Error, EmptyWebhookSecretError):
                continue  # a malformed configured secret; the system checks report it
            mac = expected.partition(",")[2].encode()
            if any(hmac.compare_digest(mac, signature) for signature in given):
                return
        raise SignatureRejected("No matching signature found")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        lowered = {k.lower(): v for k, v in headers.items()}
        payload = load_json(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise MalformedWebhook('Body must be an object with a string "type".')
        data = payload.get("data")
        if not isinstance(data, dict):
            raise MalformedWebhook('Body must carry an object "data".')
        occurred_at = None
        timestamp = payload.get("timestamp")
        if timestamp is not None:
            if not isinstance(timestamp, str):
                raise MalformedWebhook("timestamp must be an ISO 8601 string.")
            try:
                occurred_at = datetime.fromisoformat(timestamp)
            except ValueError as exc:
                raise MalformedWebhook("timestamp is not ISO 8601.") from exc
            if occurred_at.tzinfo is None:
                occurred_at = occurred_at.replace(tzinfo=UTC)
        object_id = data.get(self._object_id_key, "")
        return ParsedWebhook(
            event_id=str(lowered.get("webhook-id", "")),
            event_type=payload["type"],
            payload=payload,
            occurred_at=occurred_at,
            object_id=str(object_id if isinstance(object_id, str | int) else "")[:200],
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return self._handlers.get(event_type)


@lru_cache(maxsize=64)
def _signer(secret: str) -> Webhook:
    """The signer of one configured secret, made once (it decodes the secret's base64); a
    malformed secret raises each time, as it is never cached."""
    return Webhook(secret)


def _fresh_timestamp(header: str) -> datetime:
    """The ``webhook-timestamp`` header as a time within the tolerance of now; only ASCII digits
    are read (``float()`` or ``int()`` would take Arabic-Indic digits, ``" 17e8"`` or ``"nan"``)."""
    if not 0 < len(header) <= MAX_TIMESTAMP_DIGITS or not ASCII_DIGITS.issuperset(header):
        raise SignatureRejected("Invalid webhook-timestamp header.")
    seconds = int(header)
    now = time.time()
    if seconds < now - TOLERANCE_SECONDS:
        raise SignatureRejected("Message timestamp too old")
    if seconds > now + TOLERANCE_SECONDS:
        raise SignatureRejected("Message timestamp too new")
    return datetime.fromtimestamp(seconds, tz=UTC)
