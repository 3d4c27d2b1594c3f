"""``POST /webhooks/sandbox-payments/``: Standard Webhooks-signed payment and refund events."""

from __future__ import annotations

from integrations.sandbox import sandbox_secrets
from integrations.webhooks.standard import StandardWebhooksEndpoint
from payments.webhook_handlers import PAYMENT_FACT_HANDLERS

endpoint = StandardWebhooksEndpoint(
    name="sandbox-payments",
    secrets=sandbox_secrets,
    handlers=PAYMENT_FACT_HANDLERS,
)
