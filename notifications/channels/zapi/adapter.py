"""``ZapiWhatsAppChannel``: WhatsApp text, document and image messages through Z-API.

Duplicates. Z-API has no idempotency key, so a send that failed after it may have reached Z-API
(a read timeout, a broken connection, a 5xx) is never repeated blindly:

1. every send attempt is a ProviderCall row keyed by our reference (``notification:<pk>``),
   written whatever happens next (the shared client commits it on its own);
2. before sending, the adapter looks in that ledger for an earlier attempt of the same reference
   that may have gone through; if there is one, it reads the chat back
   (``GET chat-messages/<phone>``, the latest ``ZAPI_LOOKUP_AMOUNT`` messages) and adopts a
   message of ours with the same content sent since that attempt started, whose id no other
   notification holds, instead of sending again;
3. only when none is found is the message sent again (in-process up to ``OUTBOUND_MAX_ATTEMPTS``
   times, with backoff; later by the caller's retry, which repeats the check).

So a message is sent twice only when Z-API accepted it but had not yet shown it in the chat when
we read it back, or when the chat cannot be read (a 4xx on ``chat-messages``: then we send at
least once, and say so in the log).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import structlog
from django.conf import settings
from django.db.models import Q

from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import ProviderCall
from integrations.outbound.client import backoff_delay
from notifications.channels.base import (
    AttachmentKind,
    OutboundMessage,
    RecipientUnreachable,
    SentMessage,
)
from notifications.channels.zapi.client import PROVIDER, ChatMessage, ZapiClient
from notifications.models import Notification

log = structlog.get_logger(__name__)

SEND_OPERATIONS = ("message.send_text", "message.send_image", "message.send_document")
UNSURE = Q(outcome__in=[ProviderCall.Outcome.TIMEOUT, ProviderCall.Outcome.CONNECTION_ERROR]) | Q(
    outcome=ProviderCall.Outcome.HTTP_ERROR, status_code__gte=500
)
CLOCK_MARGIN = timedelta(minutes=2)
"""Z-API's clock and ours may differ; a match must be this close to the unsure attempt or later."""
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 8, 15


def zapi_phone(recipient: str) -> str:
    """The phone as Z-API wants it: digits only, country code first (``+55 11 98765-4321`` ->
    ``5511987654321``). Raises RecipientUnreachable for anything that is not an E.164 number."""
    digits = recipient.strip().removeprefix("+")
    if (
        not recipient.strip().startswith("+")
        or not digits.isascii()
        or not digits.isdigit()
        or not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS
    ):
        raise RecipientUnreachable(
            f"{recipient!r} is not a phone number in E.164.",
            provider=PROVIDER,
            operation="message.send",
            status_code=400,
        )
    return digits


@dataclass(frozen=True)
class _Send:
    operation: str
    path: str
    body: dict[str, Any]

    def matches(self, message: ChatMessage) -> bool:
        """``message`` (from the chat) is this send, by content."""
        if not message.from_me:
            return False
        if self.operation == "message.send_text":
            return message.text.strip() == str(self.body["message"]).strip()
        caption = str(self.body.get("caption", "")).strip()
        if self.operation == "message.send_document":
            return message.file_name == self.body.get("fileName", "") and (
                not caption or message.caption.strip() == caption
            )
        return message.caption.strip() == caption


def _extension(filename: str, source: str) -> str:
    """The file type Z-API's ``send-document/<extension>`` wants: from the name, else from a
    data URI's MIME type, else pdf."""
    name = filename.rsplit("/", 1)[-1]
    if "." in name:
        extension = name.rsplit(".", 1)[-1].lower()
        if extension.isascii() and extension.isalnum() and len(extension) <= 10:
            return extension
    if source.startswith("data:") and "/" in source.split(";", 1)[0]:
        subtype = source.split(";", 1)[0].split("/", 1)[1].lower()
        if subtype.isascii() and subtype.isalnum():
            return subtype
    return "pdf"


def _send_for(message: OutboundMessage, phone: str) -> _Send:
    attachment = message.attachment
    if attachment is None:
        return _Send("message.send_text", "send-text", {"phone": phone, "message": message.body})
    caption = {"caption": message.body} if message.body.strip() else {}
    if attachment.kind == AttachmentKind.IMAGE:
        return _Send(
            "message.send_image",
            "send-image",
            {"phone": phone, "image": attachment.source, **caption},
        )
    if attachment.kind == AttachmentKind.DOCUMENT:
        return _Send(
            "message.send_document",
            f"send-document/{_extension(attachment.filename, attachment.source)}",
            {
                "phone": phone,
                "document": attachment.source,
                "fileName": attachment.filename or "document",
                **caption,
            },
        )
    raise ProviderRejected(
        f"{PROVIDER}: cannot send an attachment of kind {attachment.kind!r}.",
        provider=PROVIDER,
        operation="message.send",
        status_code=400,
    )


def _unsure_since(reference: str) -> datetime | None:
    """When the earliest send of ``reference`` that may have gone through started, or None."""
    call = (
        ProviderCall.objects.filter(
            UNSURE, provider=PROVIDER, idempotency_key=reference, operation__in=SEND_OPERATIONS
        )
        .order_by("created_at", "id")
        .only("created_at", "duration_ms")
        .first()
    )
    if call is None:
        return None
    return call.created_at - timedelta(milliseconds=call.duration_ms)


def _latest_was_unsure(reference: str) -> bool:
    call = (
        ProviderCall.objects.filter(
            provider=PROVIDER, idempotency_key=reference, operation__in=SEND_OPERATIONS
        )
        .order_by("-created_at", "-id")
        .first()
    )
    return call is not None and (
        call.outcome == ProviderCall.Outcome.TIMEOUT
        or (call.outcome == ProviderCall.Outcome.HTTP_ERROR and (call.status_code or 0) >= 500)
    )


class ZapiWhatsAppChannel:
    name = PROVIDER
    whatsapp_window = True
    """Held to WhatsApp's 24-hour window like the Business API (unsolicited messages get a
    number banned), and free text only: Z-API has no approved (HSM) templates, so outside the
    window the policy refuses the message."""
    whatsapp_templates = False

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session_factory = session_factory
        self.sleep = sleep

    def _client(self) -> ZapiClient:
        session = self.session_factory() if self.session_factory else None
        return ZapiClient(session=session, sleep=self.sleep)

    def send(self, *, message: OutboundMessage) -> SentMessage:
        """Send ``message`` (text; with an attachment, a document or an image captioned with the
        body) to the recipient's WhatsApp; returns WhatsApp's message id, which status callbacks
        name. Never sends what the ledger and the chat say already went (see the module
        docstring). Raises RecipientUnreachable (not an E.164 number; terminal),
        ProviderRejected (a 4xx: wrong tokens, a malformed body; terminal), CircuitOpen (not
        sent; retry later) and ProviderUnavailable (may retry later: the next call checks the
        chat first)."""
        phone = zapi_phone(message.recipient)
        send = _send_for(message, phone)
        client = self._client()
        attempts = max(1, int(settings.OUTBOUND_MAX_ATTEMPTS))
        for attempt in range(1, attempts + 1):
            already = self._already_sent(client, message.reference, phone, send)
            if already is not None:
                return SentMessage(provider=self.name, provider_message_id=already)
            try:
                ids = client.send(
                    operation=send.operation,
                    path=send.path,
                    body=send.body,
                    reference=message.reference,
                )
            except CircuitOpen:
                raise
            except ProviderUnavailable:
                # Send again here only after a failure that may have gone through (the next
                # round reads the chat first); the shared client already retried the rest.
                if attempt == attempts or not _latest_was_unsure(message.reference):
                    raise
                self.sleep(
                    backoff_delay(
                        attempt,
                        base=settings.OUTBOUND_BACKOFF_BASE_SECONDS,
                        cap=settings.OUTBOUND_BACKOFF_MAX_SECONDS,
                    )
                )
                continue
            return SentMessage(provider=self.name, provider_message_id=ids.message_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _already_sent(
        self, client: ZapiClient, reference: str, phone: str, send: _Send
    ) -> str | None:
        since = _unsure_since(reference)
        if since is None:
            return None
        try:
            recent = client.recent_messages(phone=phone, amount=settings.ZAPI_LOOKUP_AMOUNT)
        except ProviderRejected as exc:
            log.warning(
                "zapi.duplicate_check_unavailable",
                reference=reference,
                status_code=exc.status_code,
                detail="the chat cannot be read back; sending again may duplicate the message",
            )
            return None
        earliest_ms = (since - CLOCK_MARGIN).timestamp() * 1000
        candidates = [m for m in recent if m.moment_ms >= earliest_ms and send.matches(m)]
        if not candidates:
            return None
        taken = set(
            Notification.objects.filter(
                provider=PROVIDER,
                provider_message_id__in=[m.message_id for m in candidates],
            ).values_list("provider_message_id", flat=True)
        )
        for candidate in sorted(candidates, key=lambda m: m.moment_ms):
            if candidate.message_id not in taken:
                log.info(
                    "zapi.send_found_in_chat",
                    reference=reference,
                    provider_message_id=candidate.message_id,
                )
                return candidate.message_id
        return None
