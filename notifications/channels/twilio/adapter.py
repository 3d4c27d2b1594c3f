"""``TwilioChannel``: SMS and WhatsApp messages through Twilio.

Addresses: SMS goes to the customer's E.164 phone; WhatsApp to ``whatsapp:<phone>``, from
``whatsapp:<TWILIO_FROM>`` (or through ``TWILIO_MESSAGING_SERVICE_SID``, which picks the sender).
Every message asks for status callbacks at ``TWILIO_STATUS_CALLBACK_URL``.

Duplicates. Twilio has no idempotency key for a message create, so a create that failed after it
may have reached Twilio (a read timeout, a broken connection, a 5xx) is never repeated blindly:

1. every create attempt is a ProviderCall row linked to the notification, written whatever
   happens next (the shared client commits it on its own);
2. before creating, the adapter looks in that ledger for an earlier attempt for the same
   notification that may have gone through; if there is one, it lists the latest messages to the
   recipient (``GET Messages.json?To=...``, ``TWILIO_LOOKUP_PAGE_SIZE`` of them) and adopts an
   outbound one with the same body created since that attempt started, whose SID no other
   notification holds, instead of creating again;
3. only when none is found is the message created again (in-process up to
   ``OUTBOUND_MAX_ATTEMPTS`` times, with backoff; later by the caller's retry, which repeats the
   check).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import requests
import structlog
from django.conf import settings
from django.db.models import Q

from integrations.exceptions import CircuitOpen, ProviderUnavailable
from integrations.models import ProviderCall
from integrations.outbound.client import backoff_delay
from notifications.channels.base import OutboundMessage, RecipientUnreachable, SentMessage
from notifications.channels.twilio.client import PROVIDER, TwilioClient, TwilioMessage
from notifications.models import Notification, NotificationChannel

log = structlog.get_logger(__name__)

CREATE = "message.create"
UNSURE = Q(outcome__in=[ProviderCall.Outcome.TIMEOUT, ProviderCall.Outcome.CONNECTION_ERROR]) | Q(
    outcome=ProviderCall.Outcome.HTTP_ERROR, status_code__gte=500
)
CLOCK_MARGIN = timedelta(minutes=2)
"""Twilio's clock and ours may differ; a match must be this close to the unsure attempt or later."""
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


def twilio_address(channel: str, phone: str) -> str:
    """``phone`` as Twilio wants it on ``channel``: E.164 for SMS, ``whatsapp:+...`` for
    WhatsApp. Raises RecipientUnreachable for anything that is not an E.164 number."""
    number = phone.strip().removeprefix("whatsapp:")
    if not _E164.fullmatch(number):
        raise RecipientUnreachable(
            f"{phone!r} is not a phone number in E.164.",
            provider=PROVIDER,
            operation=CREATE,
            status_code=400,
        )
    return f"whatsapp:{number}" if channel == NotificationChannel.WHATSAPP else number


def _notification(reference: str) -> Notification | None:
    prefix, _, pk = reference.partition(":")
    if prefix != "notification" or not pk.isascii() or not pk.isdigit():
        return None
    return Notification.objects.filter(pk=int(pk)).first()


def _unsure_since(notification: Notification | None) -> datetime | None:
    """When the earliest create for ``notification`` that may have gone through started."""
    if notification is None:
        return None
    call = (
        ProviderCall.objects.filter(
            UNSURE, provider=PROVIDER, operation=CREATE, subject_id=str(notification.pk)
        )
        .filter(subject_type__model="notification", subject_type__app_label="notifications")
        .order_by("created_at", "id")
        .only("created_at", "duration_ms")
        .first()
    )
    if call is None:
        return None
    return call.created_at - timedelta(milliseconds=call.duration_ms)


class TwilioChannel:
    name = PROVIDER
    whatsapp_window = True
    """WhatsApp through Twilio is the Business API: free text inside the 24-hour window only."""
    whatsapp_templates = True
    """Outside it, approved Content templates (``ContentSid``)."""

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.session_factory = session_factory
        self.sleep = sleep

    def _client(self) -> TwilioClient:
        session = self.session_factory() if self.session_factory else None
        return TwilioClient(session=session, sleep=self.sleep)

    def _sender(self, channel: str) -> dict[str, str]:
        service = str(settings.TWILIO_MESSAGING_SERVICE_SID or "")
        if service:
            return {"messaging_service_sid": service}
        return {"from_": twilio_address(channel, str(settings.TWILIO_FROM))}

    def send(self, *, message: OutboundMessage) -> SentMessage:
        """Create the message at Twilio (SMS or WhatsApp by ``message.channel``) with a status
        callback; returns its SID (``SM...``), which callbacks name. Never creates what the
        ledger and Twilio's message list say already went (see the module docstring). Raises
        RecipientUnreachable (not an E.164 number, Twilio's 21211; terminal), RecipientOptedOut
        (21610: the number sent STOP; terminal), ProviderRejected (other 4xx; terminal),
        CircuitOpen (not sent; retry later) and ProviderUnavailable (retry later: the next call
        looks the message up first)."""
        to = twilio_address(message.channel, message.recipient)
        sender = self._sender(message.channel)
        notification = _notification(message.reference)
        client = self._client()
        attempts = max(1, int(settings.OUTBOUND_MAX_ATTEMPTS))
        for attempt in range(1, attempts + 1):
            already = self._already_sent(client, notification, to, message.body)
            if already is not None:
                return SentMessage(provider=self.name, provider_message_id=already)
            try:
                template = message.whatsapp_template
                created = client.create_message(
                    to=to,
                    body=message.body,
                    status_callback=str(settings.TWILIO_STATUS_CALLBACK_URL or ""),
                    subject=notification,
                    content_sid=template.provider_template if template else "",
                    content_variables=template.variables if template else (),
                    **sender,
                )
            except CircuitOpen:
                raise
            except ProviderUnavailable:
                # Only a failure that may have gone through is worth another round here (it
                # looks the message up first); the shared client already retried the rest.
                if attempt == attempts or _unsure_since(notification) is None:
                    raise
                self.sleep(
                    backoff_delay(
                        attempt,
                        base=settings.OUTBOUND_BACKOFF_BASE_SECONDS,
                        cap=settings.OUTBOUND_BACKOFF_MAX_SECONDS,
                    )
                )
                continue
            return SentMessage(provider=self.name, provider_message_id=created.sid)
        raise AssertionError("unreachable")  # pragma: no cover

    def _already_sent(
        self, client: TwilioClient, notification: Notification | None, to: str, body: str
    ) -> str | None:
        since = _unsure_since(notification)
        if since is None:
            return None
        recent = client.recent_messages(
            to=to, limit=int(settings.TWILIO_LOOKUP_PAGE_SIZE), subject=notification
        )
        earliest = since - CLOCK_MARGIN
        candidates = [m for m in recent if _matches(m, body, earliest)]
        if not candidates:
            return None
        taken = set(
            Notification.objects.filter(
                provider=PROVIDER, provider_message_id__in=[m.sid for m in candidates]
            ).values_list("provider_message_id", flat=True)
        )
        for candidate in sorted(candidates, key=lambda m: (m.date_created or earliest, m.sid)):
            if candidate.sid not in taken:
                log.info(
                    "twilio.send_found",
                    notification=notification.pk if notification else None,
                    provider_message_id=candidate.sid,
                )
                return candidate.sid
        return None


def _matches(message: TwilioMessage, body: str, earliest: datetime) -> bool:
    return (
        message.direction.startswith("outbound")
        and message.body.strip() == body.strip()
        and message.date_created is not None
        and message.date_created >= earliest
    )
