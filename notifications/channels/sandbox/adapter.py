"""The sandbox WhatsApp provider: accepts messages and reports delivery and read by webhook.

A message to a number ending in ``0000`` is refused at once: the recipient is not on WhatsApp
(RecipientUnreachable, terminal, as a provider that checks the number before sending); any
other is accepted, delivered one second after sending and read one second later. The message id derives
from the reference, so sending twice for the same reference returns the same id, like a provider
with idempotency keys.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.utils import timezone

from integrations.sandbox import SandboxEvent, sandbox_emit, sandbox_maybe_fail
from notifications.channels.base import OutboundMessage, RecipientUnreachable, SentMessage

ENDPOINT = "sandbox-messaging"
UNDELIVERABLE_SUFFIX = "0000"
NOT_ON_WHATSAPP = "Recipient is not on WhatsApp"


def sandbox_message_id(reference: str) -> str:
    return f"sbx_msg_{hashlib.sha256(reference.encode()).hexdigest()[:24]}"


class SandboxWhatsAppChannel:
    name = "sandbox"

    def send(self, *, message: OutboundMessage) -> SentMessage:
        """Accept the message and schedule its status webhooks for after the caller commits.
        May raise ProviderUnavailable at ``SANDBOX_CHAOS_FAILURE_RATE``, and raises
        RecipientUnreachable (nothing sent, nothing scheduled) for a number not on WhatsApp."""
        sandbox_maybe_fail(self.name)
        if message.recipient.endswith(UNDELIVERABLE_SUFFIX):
            raise RecipientUnreachable(
                NOT_ON_WHATSAPP, provider=self.name, operation="message.send", status_code=400
            )
        message_id = sandbox_message_id(message.reference)
        now = timezone.now()
        data = {"reference": message.reference, "id": message_id}
        events = [
            SandboxEvent(
                "message.delivered", {**data, "status": "delivered"}, now + timedelta(seconds=1)
            ),
            SandboxEvent("message.read", {**data, "status": "read"}, now + timedelta(seconds=2)),
        ]
        sandbox_emit(endpoint=ENDPOINT, events=events)
        return SentMessage(provider=self.name, provider_message_id=message_id)
