"""``POST /webhooks/sandbox-messaging/``: Standard Webhooks-signed message status events."""

from __future__ import annotations

from integrations.sandbox import sandbox_secrets
from integrations.webhooks.standard import StandardWebhooksEndpoint
from notifications.webhook_handlers import MESSAGE_FACT_HANDLERS

endpoint = StandardWebhooksEndpoint(
    name="sandbox-messaging",
    secrets=sandbox_secrets,
    handlers=MESSAGE_FACT_HANDLERS,
)
