"""``POST /webhooks/sandbox-payments/``: Standard Webhooks-signed payment and refund events about
the sandbox provider's payments (a fact naming another provider's payment is refused)."""

from __future__ import annotations

from integrations.sandbox import sandbox_secrets
from integrations.webhooks.standard import StandardWebhooksEndpoint
from payments.providers.sandbox.adapter import ENDPOINT, SandboxPaymentProvider
from payments.webhook_handlers import payment_fact_handlers

endpoint = StandardWebhooksEndpoint(
    name=ENDPOINT,
    secrets=sandbox_secrets,
    handlers=payment_fact_handlers(provider=SandboxPaymentProvider.name),
)
