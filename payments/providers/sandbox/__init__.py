"""The sandbox payment provider: answers like a real one and sends Standard Webhooks-signed events
to ``/webhooks/sandbox-payments/`` after realistic delays (``integrations/sandbox.py``)."""

from integrations.providers import (
    PAYMENTS,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    standard_webhooks_secret,
)

spec = ProviderSpec(
    family=PAYMENTS.name,
    name="sandbox",
    adapter="payments.providers.sandbox.adapter.SandboxPaymentProvider",
    enabled_by="SANDBOX_ENABLED",
    webhooks=(WebhookRoute("sandbox-payments", "payments.providers.sandbox.webhooks.endpoint"),),
    settings=(ProviderSetting("SANDBOX_WEBHOOK_SECRET", check=standard_webhooks_secret),),
    sandbox=True,
    description="In-process sandbox: card, Pix and boleto payments that settle by themselves.",
)
