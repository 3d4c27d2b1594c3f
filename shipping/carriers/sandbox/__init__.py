"""The sandbox carrier: quotes, labels and tracking that move by themselves, reported by
Standard Webhooks-signed events to ``/webhooks/sandbox-shipping/``."""

from integrations.providers import (
    SHIPPING,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    standard_webhooks_secret,
)

spec = ProviderSpec(
    family=SHIPPING.name,
    name="sandbox",
    adapter="shipping.carriers.sandbox.adapter.SandboxCarrier",
    enabled_by="SANDBOX_ENABLED",
    webhooks=(WebhookRoute("sandbox-shipping", "shipping.carriers.sandbox.webhooks.endpoint"),),
    settings=(ProviderSetting("SANDBOX_WEBHOOK_SECRET", check=standard_webhooks_secret),),
    sandbox=True,
    description="In-process sandbox carrier: labels and tracking that move by themselves.",
)
