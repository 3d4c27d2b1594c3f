"""The message channel protocol. Adapters take and return these frozen dataclasses; SDK objects
and raw JSON never leave an adapter module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from integrations.exceptions import ProviderRejected


class AttachmentKind:
    DOCUMENT = "document"
    IMAGE = "image"


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message (the boleto PDF, the Pix QR code image); the message body is
    its caption."""

    kind: str
    """``document`` or ``image``."""
    source: str
    """An ``https://`` URL the provider fetches, or a ``data:<mime>;base64,...`` URI."""
    filename: str = ""
    """The name the customer sees (documents); its extension names the file type."""


@dataclass(frozen=True)
class TemplateMessage:
    """An approved WhatsApp template to send instead of free text (outside the 24-hour
    window)."""

    provider_template: str
    """The provider's id of the template (Twilio: the Content SID, HX...)."""
    variables: tuple[str, ...]
    """The values of {{1}}, {{2}}, ... in order."""


@dataclass(frozen=True)
class OutboundMessage:
    reference: str
    """``notification:<pk>``, also the idempotency key where the provider takes one; the provider
    echoes it in its status webhooks."""
    channel: str
    recipient: str
    """E-mail address, or phone in E.164."""
    subject: str
    body: str
    template: str = ""
    """The rule's template key (order_paid): a channel may render its own version of it."""
    language: str = ""
    """The customer's language (pt-br, en); blank: the default."""
    recipient_name: str = ""
    attachment: Attachment | None = None
    whatsapp_template: TemplateMessage | None = None
    """Send this approved template (``body`` is then its text as the customer reads it)."""


@dataclass(frozen=True)
class SentMessage:
    provider: str
    """Registry name of the provider that accepted the message (``Notification.provider``)."""
    provider_message_id: str


class RecipientUnreachable(ProviderRejected):
    """The provider refuses the recipient itself (a number that is not on WhatsApp): terminal,
    the same message to the same address never goes through. The notification fails at once
    with this reason; it is not retried."""

    code = "recipient_unreachable"
    http_status = 422
    title = "Recipient unreachable"


class MessageChannel(Protocol):
    name: str
    """The provider's registry name, stored on the notification."""

    def send(self, *, message: OutboundMessage) -> SentMessage:
        """Hand the message to the provider; returns once the provider accepted it. Delivery and
        read receipts, if the provider has them, arrive later by webhook. Raises
        ProviderUnavailable (retry later) or ProviderRejected (terminal; RecipientUnreachable
        for a number that is not on WhatsApp)."""
