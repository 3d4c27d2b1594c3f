"""E-mail through Django's e-mail backend: console in the demo, locmem in tests, Resend (or any
django-anymail ESP) in production (``config/settings/email.py``).

Each message is rendered from templates in the customer's language, text and HTML
(``templates/notifications/email/<language>/``: ``<template key>.txt``/``.html`` when the
business wrote one for that message, else ``message.txt``/``.html`` around the rule's text), with
the business's name and logo. An address on the suppression list (a hard bounce or a complaint,
``EmailSuppression``) is refused before anything is sent."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.template.loader import select_template

from notifications.channels.base import OutboundMessage, SentMessage
from notifications.exceptions import RecipientSuppressed
from notifications.selectors import email_suppression_for

LANGUAGES = ("pt-br", "en")


def _message_id_domain() -> str:
    _, address = parseaddr(str(settings.DEFAULT_FROM_EMAIL))
    return address.rpartition("@")[2] or "localhost"


def email_language(language: str) -> str:
    """``language`` if we have templates in it, else the default, else English."""
    for candidate in (language.lower(), str(settings.CUSTOMER_DEFAULT_LANGUAGE).lower()):
        if candidate in LANGUAGES:
            return candidate
    return "en"


def render_email(message: OutboundMessage) -> tuple[str, str]:
    """(text, html) of ``message`` in its recipient's language."""
    language = email_language(message.language)
    context: dict[str, Any] = {
        "subject": message.subject,
        "body": message.body,
        "paragraphs": [part for part in message.body.split("\n\n") if part.strip()],
        "recipient_name": message.recipient_name,
        "business_name": settings.BUSINESS_NAME,
        "business_logo_url": settings.BUSINESS_LOGO_URL,
        "support_email": settings.BUSINESS_SUPPORT_EMAIL,
        "language": language,
    }
    rendered = []
    for extension in ("txt", "html"):
        template = select_template(
            [
                f"notifications/email/{language}/{message.template}.{extension}",
                f"notifications/email/{language}/message.{extension}",
            ]
        )
        rendered.append(template.render(context).strip() + "\n")
    return rendered[0], rendered[1]


class EmailChannel:
    name = "email"

    def send(self, *, message: OutboundMessage) -> SentMessage:
        """Send one e-mail (text and HTML) from ``DEFAULT_FROM_EMAIL``; returns the ESP's id for
        it (anymail's ``message_id``), else the Message-ID header we set.

        Idempotent where the backend supports it: the Resend backend sends ``message.reference``
        as the Idempotency-Key. SMTP has none: a crash between sending and recording the result
        sends again on retry. Raises RecipientSuppressed (terminal) for a suppressed address;
        the backend's errors (``ProviderRejected``, ``ProviderUnavailable``,
        ``smtplib.SMTPException``, ``OSError``) propagate, so the caller's delivery retries."""
        suppression = email_suppression_for(message.recipient)
        if suppression is not None:
            raise RecipientSuppressed(
                f"{message.recipient} is on the suppression list ({suppression.get_reason_display()}"
                f" since {suppression.created_at:%Y-%m-%d}); cleared by staff in the admin.",
                provider=self.name,
                status_code=422,
            )
        text, html = render_email(message)
        message_id = make_msgid(domain=_message_id_domain())
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=text,
            to=[message.recipient],
            headers={"Message-ID": message_id},
        )
        email.attach_alternative(html, "text/html")
        # Read by anymail backends (metadata is echoed in tracking webhooks where the ESP can)
        # and by ResendEmailBackend (the Idempotency-Key); other backends ignore them.
        email.metadata = {"reference": message.reference}  # type: ignore[attr-defined]
        email.idempotency_key = message.reference  # type: ignore[attr-defined]
        email.send()
        status = getattr(email, "anymail_status", None)
        esp_id = getattr(status, "message_id", None) if status is not None else None
        return SentMessage(provider=self.name, provider_message_id=str(esp_id or message_id))
