"""``POST /webhooks/twilio/``: Twilio's message status callbacks and inbound messages.

Authenticity: ``X-Twilio-Signature`` over the URL we gave Twilio (``TWILIO_STATUS_CALLBACK_URL``,
tried with and without its explicit port) and every posted parameter, checked by the SDK's
``RequestValidator`` with the Auth Token (CONTRACTS §7). Anything else is 401, nothing stored as
processable; a signed body that is not a status callback or an inbound message is 400.

Status callbacks (``MessageSid`` and ``MessageStatus``) map to message status facts:

=================================== =========================================================
delivered                           delivered
read (WhatsApp)                     read
undelivered, failed                 failed, with Twilio's ``ErrorCode`` (21610 also opts the
                                    customer out of the channel)
queued, accepted, sending, sent,    stored as ignored: we mark a message sent when Twilio
scheduled, canceled, ...            accepts it
=================================== =========================================================

Twilio sends no event id or time: the id is derived from ``MessageSid`` and ``MessageStatus``,
so a redelivery is the same event; the statuses apply in any order through the notification
transitions (read before delivered ends read).

Inbound messages (``Body``, ``From``, ``To``, no ``MessageStatus``): an opt-out word (STOP,
PARAR, SAIR, ...) opts every customer with that phone out of the channel it came on (SMS, or
WhatsApp for ``whatsapp:`` addresses); an opt-in word (START, UNSTOP, VOLTAR) opts them back in.
Any inbound WhatsApp message (``whatsapp:`` From) is also recorded as the customer's last
message, which opens WhatsApp's 24-hour window (``notifications.policy``). Other inbound SMS are
processed and change nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from accounts.customers.validators import normalize_phone
from integrations.facts import ObjectNotReady, in_event_context
from integrations.models import WebhookEvent
from integrations.redaction import remember_secret
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
)
from notifications.channels.twilio.client import OPTED_OUT, PROVIDER
from notifications.consent.selectors import customers_with_phone
from notifications.consent.services import consent_opt_in, consent_opt_out
from notifications.facts import MessageStatusFact, message_status_fact_apply
from notifications.models import Notification, NotificationChannel, NotificationStatus
from notifications.policy.services import whatsapp_inbound_record

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "x-twilio-signature"
MAX_SIGNATURE_LENGTH = 128
MAX_FIELDS = 200
MAX_SID_LENGTH = 64
STATUS_FACTS = {
    "delivered": NotificationStatus.DELIVERED,
    "read": NotificationStatus.READ,
    "undelivered": NotificationStatus.FAILED,
    "failed": NotificationStatus.FAILED,
}
STATUSES = frozenset(
    {
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "accepted",
        "scheduled",
        "read",
        "partially_delivered",
        "canceled",
    }
)
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "parar", "sair", "cancelar"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "voltar"})
INBOUND = "message.inbound"


class _Params(dict[str, list[str]]):
    """Posted parameters with every value of a repeated name, as RequestValidator reads them."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _params(body: bytes) -> _Params:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise MalformedWebhook("The body is not form-encoded UTF-8.") from None
    params = _Params()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return params


def _one(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name) or [""]
    return values[0].strip()


def _sid(value: str, what: str) -> str:
    if not 0 < len(value) <= MAX_SID_LENGTH or not value.isascii() or not value.isalnum():
        raise MalformedWebhook(f"{what} must be a Twilio SID.")
    return value


def _event_id(*parts: str) -> str:
    return f"twilio_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:40]}"


def channel_and_phone(address: str) -> tuple[str, str]:
    """(channel, E.164 phone) of a Twilio address: ``whatsapp:+55...`` is WhatsApp, a bare
    number SMS. Raises MalformedWebhook when the number is not a valid phone."""
    channel = NotificationChannel.SMS
    number = address.strip()
    if number.startswith("whatsapp:"):
        channel, number = NotificationChannel.WHATSAPP, number.removeprefix("whatsapp:")
    try:
        return channel, normalize_phone(number)
    except ValidationError:
        raise MalformedWebhook("From is not a phone number.") from None


def _keyword(body: str) -> str:
    """The message as a keyword: trimmed, case-folded, without trailing punctuation."""
    return body.strip().strip(".!").strip().casefold()


def _notification_for(sid: str) -> Notification | None:
    return (
        Notification.objects.filter(provider=PROVIDER, provider_message_id=sid)
        .order_by("pk")
        .first()
    )


def _awaiting_send_result(to: str) -> bool:
    """Whether a notification to ``to`` on its channel is still queued: a status for a SID we
    do not know may be about it (created, its SID not recorded yet)."""
    try:
        channel, phone = channel_and_phone(to)
    except MalformedWebhook:
        return False
    return Notification.objects.filter(
        channel=channel, recipient=phone, status=NotificationStatus.QUEUED
    ).exists()


def _status_handler(status: NotificationStatus) -> Handler:
    @in_event_context
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        payload = parsed.payload
        sid = str(payload["MessageSid"])
        notification = _notification_for(sid)
        if notification is None:
            if _awaiting_send_result(str(payload.get("To", ""))):
                raise ObjectNotReady(f"Twilio message {sid} is not recorded as sent yet.")
            log.info("twilio.status_for_unknown_message", provider_message_id=sid)
            return HandlerOutcome()
        code = str(payload.get("ErrorCode", ""))
        affected: list[Any] = []
        if status == NotificationStatus.FAILED and code == str(OPTED_OUT):
            affected.append(
                consent_opt_out(
                    customer=notification.customer,
                    channel=notification.channel,
                    source=f"twilio {OPTED_OUT}",
                    detail="Twilio: the recipient unsubscribed (STOP)",
                    address=notification.recipient,
                )
            )
        fact = MessageStatusFact(
            provider=PROVIDER,
            reference=f"notification:{notification.pk}",
            provider_message_id=sid,
            status=status,
            occurred_at=None,
            error=f"Twilio {payload.get('MessageStatus')}" + (f" (error {code})" if code else ""),
        )
        affected.extend(message_status_fact_apply(fact=fact).affected)
        return HandlerOutcome(affected=tuple(affected))

    return handle


@in_event_context
def handle_inbound(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    payload = parsed.payload
    word = _keyword(str(payload.get("Body", "")))
    channel, phone = channel_and_phone(str(payload.get("From", "")))
    opt_word = word in OPT_OUT_WORDS or word in OPT_IN_WORDS
    if channel != NotificationChannel.WHATSAPP and not opt_word:
        return HandlerOutcome()
    customers = customers_with_phone(phone)
    if not customers:
        log.info("twilio.inbound_from_unknown_phone", channel=channel, opt_word=opt_word)
        return HandlerOutcome()
    affected: list[Any] = []
    if channel == NotificationChannel.WHATSAPP:
        # Any WhatsApp message of the customer opens WhatsApp's 24-hour window.
        affected.extend(
            whatsapp_inbound_record(
                customers=customers,
                provider=PROVIDER,
                phone=phone,
                received_at=event.received_at,
                message_id=str(payload["MessageSid"]),
            )
        )
    if opt_word:
        record = consent_opt_out if word in OPT_OUT_WORDS else consent_opt_in
        affected.extend(
            record(
                customer=customer,
                channel=channel,
                source=f"twilio inbound {word.upper()}",
                detail=str(payload.get("Body", "")).strip(),
                address=str(payload.get("From", "")),
                occurred_at=event.received_at,
            )
            for customer in customers
        )
    return HandlerOutcome(affected=tuple(affected))


HANDLERS: dict[str, Handler] = {
    **{f"message.{name}": _status_handler(status) for name, status in STATUS_FACTS.items()},
    INBOUND: handle_inbound,
}


class TwilioWebhookEndpoint:
    name = "twilio"
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        token = str(settings.TWILIO_AUTH_TOKEN or "")
        url = str(settings.TWILIO_STATUS_CALLBACK_URL or "")
        if not token or not url:
            raise SignatureRejected(
                "No TWILIO_AUTH_TOKEN or TWILIO_STATUS_CALLBACK_URL configured."
            )
        remember_secret(token)
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        if not given:
            raise SignatureRejected("Missing X-Twilio-Signature header.")
        if len(given) > MAX_SIGNATURE_LENGTH:
            raise SignatureRejected("Wrong X-Twilio-Signature header.")
        try:
            params = _params(body)
        except MalformedWebhook:
            raise SignatureRejected("The body is not what Twilio signs.") from None
        if not RequestValidator(token).validate(url, params, given):
            raise SignatureRejected("Wrong X-Twilio-Signature header.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        params = _params(body)
        payload = {name: values[0] for name, values in params.items()}
        sid = _one(params, "MessageSid") or _one(params, "SmsSid")
        status = _one(params, "MessageStatus").lower()
        if status:
            sid = _sid(sid, "MessageSid")
            if status not in STATUSES:
                log.info("twilio.unknown_status", status=status[:40])
            return ParsedWebhook(
                event_id=_event_id("status", sid, status[:40]),
                event_type=f"message.{status[:40]}",
                payload={**payload, "MessageSid": sid},
                object_id=sid,
            )
        if "Body" in params and _one(params, "From"):
            sid = _sid(sid, "MessageSid")
            channel_and_phone(_one(params, "From"))
            return ParsedWebhook(
                event_id=_event_id("inbound", sid),
                event_type=INBOUND,
                payload={**payload, "MessageSid": sid},
                object_id=sid,
            )
        raise MalformedWebhook("Neither a status callback (MessageStatus) nor a message (Body).")

    def handler_for(self, event_type: str) -> Handler | None:
        return HANDLERS.get(event_type)


endpoint = TwilioWebhookEndpoint()
