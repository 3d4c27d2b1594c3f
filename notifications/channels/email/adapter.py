"""E-mail through Django's e-mail backend (console in the demo, locmem in tests, SMTP or
django-anymail in production)."""

from __future__ import annotations

from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, make_msgid

from notifications.channels.base import OutboundMessage, SentMessage


def _message_id_domain() -> str:
    _, address = parseaddr(str(settings.DEFAULT_FROM_EMAIL))
    return address.rpartition("@")[2] or "localhost"


class EmailChannel:
    name = "email"

    def send(self, *, message: OutboundMessage) -> SentMessage:
        """Send one plain-text e-mail from ``DEFAULT_FROM_EMAIL``; returns its Message-ID.

        Not idempotent (SMTP has no idempotency key): a crash between sending and recording the
        result sends again on retry. The backend's errors (``smtplib.SMTPException``,
        ``OSError``) propagate, so the caller's delivery retries."""
        message_id = make_msgid(domain=_message_id_domain())
        EmailMessage(
            subject=message.subject,
            body=message.body,
            to=[message.recipient],
            headers={"Message-ID": message_id},
        ).send()
        return SentMessage(provider=self.name, provider_message_id=message_id)
