"""``POST /webhooks/sandbox-shipping/``: Standard Webhooks-signed tracking events."""

from __future__ import annotations

from integrations.sandbox import sandbox_secrets
from integrations.webhooks.standard import StandardWebhooksEndpoint
from shipping.webhook_handlers import TRACKING_FACT_HANDLERS

endpoint = StandardWebhooksEndpoint(
    name="sandbox-shipping",
    secrets=sandbox_secrets,
    handlers=TRACKING_FACT_HANDLERS,
    object_id_key="tracking_code",
)
