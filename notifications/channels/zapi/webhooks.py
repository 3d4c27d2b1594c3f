"""``POST /webhooks/zapi/<ZAPI_WEBHOOK_TOKEN>/``: Z-API's message status callbacks.

Z-API signs nothing (CONTRACTS §7). A callback is authentic when the secret segment of the URL we
gave Z-API is ``ZAPI_WEBHOOK_TOKEN`` (or, during a rotation, ``ZAPI_WEBHOOK_TOKEN_PREVIOUS``) and
its ``Client-Token`` header is ``ZAPI_CLIENT_TOKEN``; both are compared in constant time. Anything
else is 401, counted and logged, nothing stored as processable; the tokens never reach a log line.

``MessageStatusCallback`` (``status`` SENT, RECEIVED, READ, READ_BY_ME or PLAYED; ``ids``, the
WhatsApp message ids; ``momment``, milliseconds) maps to message status facts:

=========== =================================================================
RECEIVED    delivered
READ        read
PLAYED      read (an audio or video was played: it was read)
SENT        stored as ignored: we mark a message sent when Z-API accepts it
READ_BY_ME  stored as ignored: our own phone read a message of the customer
=========== =================================================================

``DeliveryCallback`` (the "on send" webhook; its ``type`` is UNCONFIRMED in the contract) with an
``error`` fails the message; without one it only confirms the send and is ignored.
``ReceivedCallback`` (a message the customer sent us; not ``fromMe``, not a group) records the
customer's last WhatsApp message, which opens WhatsApp's 24-hour window
(``notifications.policy``). Other types (presence, ...) are stored as ignored.

Z-API sends no event id: it is derived from the type, status, ids and time, so a redelivery is
the same event. Z-API does not echo our reference either, so facts name the notification by
WhatsApp's message id. A status for an id we do not know is skipped (the business's own phone
sends messages too), unless a WhatsApp notification to that phone is still queued: its send may
have gone through with the id not recorded yet, so the inbox retries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings

from accounts.models import Customer
from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.redaction import remember_secret
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    bounded_time,
    load_json,
)
from notifications.channels.zapi.client import CLIENT_TOKEN_HEADER, PROVIDER
from notifications.consent.selectors import customers_with_phone
from notifications.facts import MessageStatusFact, message_status_fact_apply
from notifications.models import Notification, NotificationChannel, NotificationStatus
from notifications.policy.services import whatsapp_inbound_record
from notifications.selectors import (
    notification_awaiting_send_result,
    notification_by_provider_message_id,
)

log = structlog.get_logger(__name__)

STATUS_CALLBACK = "MessageStatusCallback"
DELIVERY_CALLBACK = "DeliveryCallback"
RECEIVED_CALLBACK = "ReceivedCallback"
_PHONE_DIGITS = re.compile(r"[0-9]{8,15}")
STATUSES = frozenset({"SENT", "RECEIVED", "READ", "READ_BY_ME", "PLAYED"})
STATUS_FACTS = {
    "RECEIVED": NotificationStatus.DELIVERED,
    "READ": NotificationStatus.READ,
    "PLAYED": NotificationStatus.READ,
}
MAX_IDS = 100
MAX_ID_LENGTH = 100
MAX_TOKEN_LENGTH = 256
ERROR_LENGTH = 200


def _url_tokens() -> list[str]:
    tokens = [
        str(settings.ZAPI_WEBHOOK_TOKEN or ""),
        str(getattr(settings, "ZAPI_WEBHOOK_TOKEN_PREVIOUS", "") or ""),
    ]
    return [token for token in tokens if token]


def _matches(given: str, expected: list[str]) -> bool:
    """Constant time in the secrets: every expected value is compared, whatever matched."""
    given_bytes = given.encode()
    matched = False
    for value in expected:
        matched |= hmac.compare_digest(given_bytes, value.encode())
    return matched


def _moment(value: Any) -> datetime:
    """Z-API's ``momment`` (unix milliseconds) as an aware UTC time; MalformedWebhook else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedWebhook('"momment" must be unix milliseconds (an integer).')
    try:
        when = datetime.fromtimestamp(value // 1000, tz=UTC) + timedelta(milliseconds=value % 1000)
    except (OverflowError, OSError, ValueError):
        raise MalformedWebhook('"momment" is out of range.') from None
    return bounded_time(when)


def _message_ids(value: Any) -> list[str]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_IDS:
        raise MalformedWebhook(f'"ids" must list 1 to {MAX_IDS} message ids.')
    ids = []
    for item in value:
        if not isinstance(item, str) or not 0 < len(item.strip()) <= MAX_ID_LENGTH:
            raise MalformedWebhook(f'Each of "ids" must be a string of 1-{MAX_ID_LENGTH} chars.')
        ids.append(item.strip())
    return ids


def _event_id(*parts: str) -> str:
    return f"zapi_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:40]}"


def _phone(payload: Mapping[str, Any]) -> str:
    phone = payload.get("phone")
    return phone if isinstance(phone, str) else ""


def _apply(
    message_id: str, phone: str, status: NotificationStatus, parsed: ParsedWebhook, error: str = ""
) -> tuple[Notification, ...]:
    known = notification_by_provider_message_id(provider=PROVIDER, message_id=message_id)
    if known is None and not notification_awaiting_send_result(
        channel=NotificationChannel.WHATSAPP, phone_digits=phone
    ):
        log.info("zapi.status_for_unknown_message", provider_message_id=message_id, status=status)
        return ()
    fact = MessageStatusFact(
        provider=PROVIDER,
        reference="",
        provider_message_id=message_id,
        status=status,
        occurred_at=parsed.occurred_at,
        error=error,
    )
    return tuple(
        row
        for row in message_status_fact_apply(fact=fact).affected
        if isinstance(row, Notification)
    )


def _status_handler(status: NotificationStatus) -> Handler:
    @in_event_context
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        affected: dict[int, Notification] = {}
        phone = _phone(parsed.payload)
        for message_id in _message_ids(parsed.payload.get("ids")):
            for notification in _apply(message_id, phone, status, parsed):
                affected[notification.pk] = notification
        return HandlerOutcome(affected=tuple(affected.values()))

    return handle


@in_event_context
def handle_send_error(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    payload = parsed.payload
    error = str(payload.get("error", "")).strip()[:ERROR_LENGTH] or "Z-API could not send it"
    affected = _apply(
        parsed.object_id, _phone(payload), NotificationStatus.FAILED, parsed, error=error
    )
    return HandlerOutcome(affected=affected)


def _inbound_customers(phone: str) -> tuple[str, list[Customer]]:
    """(E.164, customers) of the phone Z-API names (digits, country code first). WhatsApp may
    drop the ninth digit of a Brazilian mobile (55 + area + 8 digits): then the number with the
    9 is tried too."""
    digits = phone.strip().removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise MalformedWebhook('"phone" must be digits, country code first.')
    candidates = [f"+{digits}"]
    if digits.startswith("55") and len(digits) == 12:
        candidates.append(f"+{digits[:4]}9{digits[4:]}")
    for candidate in candidates:
        customers = customers_with_phone(candidate)
        if customers:
            return candidate, customers
    return candidates[0], []


@in_event_context
def handle_received(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """A message the customer sent us: it opens WhatsApp's 24-hour window. Our own messages
    (``fromMe``), groups and channels change nothing."""
    payload = parsed.payload
    if any(payload.get(flag) is True for flag in ("fromMe", "isGroup", "isNewsletter")):
        return HandlerOutcome()
    phone, customers = _inbound_customers(_phone(payload))
    if not customers:
        log.info("zapi.message_from_unknown_phone")
        return HandlerOutcome()
    return HandlerOutcome(
        affected=tuple(
            whatsapp_inbound_record(
                customers=customers,
                provider=PROVIDER,
                phone=phone,
                received_at=parsed.occurred_at or event.received_at,
                message_id=parsed.object_id,
            )
        )
    )


HANDLERS: dict[str, Handler] = {
    **{
        f"{STATUS_CALLBACK}.{name}": _status_handler(status)
        for name, status in STATUS_FACTS.items()
    },
    f"{DELIVERY_CALLBACK}.error": handle_send_error,
    RECEIVED_CALLBACK: handle_received,
}


class ZapiWebhookEndpoint:
    name = "zapi"
    secret_headers = frozenset({CLIENT_TOKEN_HEADER.lower()})

    def verify_url_token(self, token: str) -> None:
        expected = _url_tokens()
        for value in expected:
            remember_secret(value)  # a 4xx line of django.request shows the path: scrub it
        if not expected:
            raise SignatureRejected("No ZAPI_WEBHOOK_TOKEN configured.")
        if not token or len(token) > MAX_TOKEN_LENGTH or not _matches(token, expected):
            raise SignatureRejected("Wrong or missing URL token.")

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        expected = str(settings.ZAPI_CLIENT_TOKEN or "")
        if not expected:
            raise SignatureRejected("No ZAPI_CLIENT_TOKEN configured.")
        remember_secret(expected)
        wanted = CLIENT_TOKEN_HEADER.lower()
        given = next((v for k, v in headers.items() if k.lower() == wanted), "")
        if not given:
            raise SignatureRejected(f"Missing {CLIENT_TOKEN_HEADER} header.")
        if len(given) > MAX_TOKEN_LENGTH or not _matches(given, [expected]):
            raise SignatureRejected(f"Wrong {CLIENT_TOKEN_HEADER} header.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        payload = load_json(body)
        if not isinstance(payload, dict):
            raise MalformedWebhook("Body must be a JSON object.")
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise MalformedWebhook('A Z-API callback must carry its "type".')
        kind = kind.strip()[:60]
        if kind == STATUS_CALLBACK:
            return self._status(payload)
        if kind == DELIVERY_CALLBACK:
            return self._delivery(payload)
        if kind == RECEIVED_CALLBACK:
            return self._received(payload)
        return ParsedWebhook(
            event_id=_event_id(kind, hashlib.sha256(body).hexdigest()),
            event_type=kind,
            payload=payload,
        )

    def _status(self, payload: Mapping[str, Any]) -> ParsedWebhook:
        status = payload.get("status")
        if not isinstance(status, str) or not status.strip():
            raise MalformedWebhook('A status callback must carry its "status".')
        status = status.strip().upper()[:30]
        ids = _message_ids(payload.get("ids"))
        occurred_at = _moment(payload.get("momment"))
        moment = str(payload["momment"])
        return ParsedWebhook(
            event_id=_event_id(STATUS_CALLBACK, status, ",".join(sorted(ids)), moment),
            event_type=f"{STATUS_CALLBACK}.{status}",
            payload=payload,
            occurred_at=occurred_at,
            object_id=ids[0],
        )

    def _delivery(self, payload: Mapping[str, Any]) -> ParsedWebhook:
        message_id = payload.get("messageId") or payload.get("zaapId")
        if not isinstance(message_id, str) or not 0 < len(message_id.strip()) <= MAX_ID_LENGTH:
            raise MalformedWebhook('A delivery callback must carry its "messageId".')
        error = payload.get("error")
        if error is not None and not isinstance(error, str):
            raise MalformedWebhook('"error" must be text.')
        failed = bool(error and error.strip())
        occurred_at = _moment(payload["momment"]) if "momment" in payload else None
        return ParsedWebhook(
            event_id=_event_id(
                DELIVERY_CALLBACK,
                message_id.strip(),
                "error" if failed else "sent",
                str(payload.get("momment", "")),
            ),
            event_type=f"{DELIVERY_CALLBACK}.error" if failed else DELIVERY_CALLBACK,
            payload=payload,
            occurred_at=occurred_at,
            object_id=message_id.strip(),
        )

    def _received(self, payload: Mapping[str, Any]) -> ParsedWebhook:
        message_id = payload.get("messageId")
        if not isinstance(message_id, str) or not 0 < len(message_id.strip()) <= MAX_ID_LENGTH:
            raise MalformedWebhook('A received message must carry its "messageId".')
        phone = payload.get("phone")
        ignored = any(payload.get(flag) is True for flag in ("fromMe", "isGroup", "isNewsletter"))
        if not ignored and (
            not isinstance(phone, str) or not _PHONE_DIGITS.fullmatch(phone.strip())
        ):
            raise MalformedWebhook('A received message must carry the sender\'s "phone".')
        occurred_at = _moment(payload["momment"]) if "momment" in payload else None
        return ParsedWebhook(
            event_id=_event_id(RECEIVED_CALLBACK, message_id.strip()),
            event_type=RECEIVED_CALLBACK,
            payload=payload,
            occurred_at=occurred_at,
            object_id=message_id.strip(),
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return HANDLERS.get(event_type)


endpoint = ZapiWebhookEndpoint()
