"""``POST /webhooks/email/<esp>/``: an ESP's tracking events, verified and parsed the way
django-anymail verifies and parses them, then stored in our inbox like every other webhook.

anymail's tracking view for the ESP does the ESP-specific work: ``validate_request`` (Resend's
Svix signature with ``ANYMAIL["RESEND_SIGNING_SECRET"]``; basic auth with
``ANYMAIL["WEBHOOK_SECRET"]`` for ESPs that have nothing better) and ``parse_events`` (the ESP's
body to ``AnymailTrackingEvent``s). We never let anymail accept an unauthenticated post: an ESP
whose secret is not configured, or that is not listed in ``EMAIL_TRACKING_ESPS``, is refused.

The normalised event is what the inbox row's payload carries (``{"event": {...}}``); processing
maps it to the notification: delivered -> delivered, opened/clicked -> read, bounced, rejected
or failed -> failed; a hard bounce or a complaint also puts the address on the suppression list.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Mapping
from typing import Any

from anymail.exceptions import AnymailInsecureWebhookWarning, AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, EventType
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.resend import ResendTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest

from integrations.facts import ObjectNotReady, in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    load_json,
)
from notifications.facts import MessageStatusFact, message_status_fact_apply
from notifications.models import Notification, NotificationChannel, NotificationStatus
from notifications.services import email_suppression_add

# The ESPs whose tracking webhooks we can take: anymail's view for each.
TRACKING_VIEWS: dict[str, type[Any]] = {
    "resend": ResendTrackingWebhookView,
    "postmark": PostmarkTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
    "mailgun": MailgunTrackingWebhookView,
}
JSON_ONLY_ESPS = frozenset({"resend", "postmark", "sendgrid"})
"""ESPs whose tracking webhooks are JSON only: their body passes the inbox's JSON bounds (depth,
64-bit numbers, no NUL or lone surrogate) before anymail decodes it, which has none."""
STATUS_BY_EVENT = {
    EventType.DELIVERED: NotificationStatus.DELIVERED,
    EventType.OPENED: NotificationStatus.READ,
    EventType.CLICKED: NotificationStatus.READ,
    EventType.BOUNCED: NotificationStatus.FAILED,
    EventType.REJECTED: NotificationStatus.FAILED,
    EventType.FAILED: NotificationStatus.FAILED,
}
HANDLED = frozenset({*STATUS_BY_EVENT, EventType.COMPLAINED})


def _wsgi_request(headers: Mapping[str, str], body: bytes) -> HttpRequest:
    """The delivery as a Django request, for anymail's validators and parsers."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value if key == "CONTENT_TYPE" else environ[key]
        else:
            environ[f"HTTP_{key}"] = value
    return WSGIRequest(environ)


def _normalised(esp: str, event: AnymailTrackingEvent, body: bytes) -> dict[str, Any]:
    raw: Mapping[str, Any] = event.esp_event if isinstance(event.esp_event, Mapping) else {}
    data: Mapping[str, Any] = raw["data"] if isinstance(raw.get("data"), Mapping) else {}
    bounce: Mapping[str, Any] = data["bounce"] if isinstance(data.get("bounce"), Mapping) else {}
    metadata = event.metadata if isinstance(event.metadata, Mapping) else {}
    return {
        "esp": esp,
        "event_type": str(event.event_type),
        "event_id": str(event.event_id or ""),
        "message_id": str(event.message_id or ""),
        "recipient": str(event.recipient or ""),
        "reference": str(metadata.get("reference", "")),
        "reject_reason": str(event.reject_reason or ""),
        "bounce_type": str(bounce.get("type", "")),
        "description": str(event.description or bounce.get("message") or "")[:300],
        "timestamp": event.timestamp.isoformat() if event.timestamp else "",
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }


class AnymailTrackingEndpoint:
    """The endpoint of one ESP's tracking webhooks, named ``email-<esp>``."""

    secret_headers = frozenset(
        {"authorization", "svix-signature", "x-twilio-email-event-webhook-signature"}
    )

    def __init__(self, esp: str) -> None:
        self.esp = esp
        self.name = f"email-{esp}"

    def _view(self) -> Any:
        if self.esp not in settings.EMAIL_TRACKING_ESPS:
            raise SignatureRejected(f"{self.esp} is not in EMAIL_TRACKING_ESPS.")
        anymail = getattr(settings, "ANYMAIL", {}) or {}
        with warnings.catch_warnings():  # anymail warns of no secret; we refuse below instead
            warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
            view = TRACKING_VIEWS[self.esp]()
        signed = getattr(view, "_svix_webhook", None) is not None
        if not signed and not anymail.get("WEBHOOK_SECRET"):
            raise SignatureRejected(
                f"No secret for {self.esp}'s webhooks: set its signing secret or "
                "ANYMAIL_WEBHOOK_SECRET."
            )
        return view

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        view = self._view()
        try:
            view.run_validators(_wsgi_request(headers, body))
        except AnymailWebhookValidationFailure as exc:
            raise SignatureRejected(str(exc)[:200]) from None
        except ValueError:
            # Svix decodes the body as JSON only once the signature holds: authentic but not
            # JSON, which ``parse`` answers with a 400.
            return

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
            view = TRACKING_VIEWS[self.esp]()
        if self.esp in JSON_ONLY_ESPS:
            load_json(body)  # raises MalformedWebhook
        try:
            events = view.parse_events(_wsgi_request(headers, body))
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            UnicodeDecodeError,
            RecursionError,  # a JSON body nested deeper than the stack (mailgun's, not checked)
        ) as exc:
            raise MalformedWebhook(
                f"Not a {self.esp} tracking event ({type(exc).__name__})."
            ) from None
        if len(events) != 1:
            raise MalformedWebhook(f"Expected one tracking event, got {len(events)}.")
        [event] = events
        payload = _normalised(self.esp, event, body)
        if not payload["message_id"] and not payload["reference"]:
            raise MalformedWebhook("The tracking event names no message.")
        event_id = payload["event_id"] or f"{self.esp}_{payload['body_sha256'][:40]}"
        return ParsedWebhook(
            event_id=event_id[:200],
            event_type=f"email.{payload['event_type']}"[:100],
            payload={"event": payload},
            occurred_at=event.timestamp,
            object_id=payload["message_id"][:200],
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return handle_tracking_event if event_type.removeprefix("email.") in HANDLED else None


def _notification_for(event: Mapping[str, Any]) -> Notification:
    reference = event["reference"]
    prefix, _, pk = reference.partition(":")
    query = Notification.objects.filter(channel=NotificationChannel.EMAIL)
    if prefix == "notification" and pk.isascii() and pk.isdigit():
        found = query.filter(pk=int(pk)).first()
    elif event["message_id"]:
        found = query.filter(provider_message_id=event["message_id"]).order_by("-id").first()
    else:
        raise MalformedWebhook("The tracking event names no message.")
    if found is None:
        raise ObjectNotReady("The e-mail this event is about is not recorded (yet).")
    return found


def _permanent(event: Mapping[str, Any]) -> bool:
    """A bounce that will happen again (not Resend's ``Temporary``)."""
    return event["event_type"] == EventType.BOUNCED and event["bounce_type"] != "Temporary"


@in_event_context
def handle_tracking_event(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    data = parsed.payload["event"]
    notification = _notification_for(data)
    kind = data["event_type"]
    affected: list[Any] = []
    if kind == EventType.COMPLAINED or _permanent(data):
        affected.append(
            email_suppression_add(
                address=data["recipient"] or notification.recipient,
                reason="complained" if kind == EventType.COMPLAINED else "bounced",
                detail=data["description"],
                provider=data["esp"],
                notification=notification,
            )
        )
    status = STATUS_BY_EVENT.get(kind)
    if status is not None and not (kind == EventType.BOUNCED and not _permanent(data)):
        fact = MessageStatusFact(
            provider="email",
            reference=f"notification:{notification.pk}",
            provider_message_id=data["message_id"] or notification.provider_message_id,
            status=status,
            occurred_at=parsed.occurred_at,
            error=f"{kind}: {data['description']}".strip(": ")[:200],
        )
        affected.extend(message_status_fact_apply(fact=fact).affected)
    return HandlerOutcome(affected=tuple(affected))


ENDPOINTS = {esp: AnymailTrackingEndpoint(esp) for esp in TRACKING_VIEWS}
resend = ENDPOINTS["resend"]
postmark = ENDPOINTS["postmark"]
sendgrid = ENDPOINTS["sendgrid"]
mailgun = ENDPOINTS["mailgun"]
