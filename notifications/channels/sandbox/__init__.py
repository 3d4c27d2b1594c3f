"""The sandbox WhatsApp channel: ``adapter`` accepts messages and reports sent, delivered and read
receipts by Standard Webhooks-signed events to ``/webhooks/sandbox-messaging/`` (``webhooks``)."""

from integrations.providers import (
    MESSAGING,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    standard_webhooks_secret,
)

spec = ProviderSpec(
    family=MESSAGING.name,
    name="sandbox",
    adapter="notifications.channels.sandbox.adapter.SandboxWhatsAppChannel",
    enabled_by="SANDBOX_ENABLED",
    webhooks=(
        WebhookRoute("sandbox-messaging", "notifications.channels.sandbox.webhooks.endpoint"),
    ),
    settings=(ProviderSetting("SANDBOX_WEBHOOK_SECRET", check=standard_webhooks_secret),),
    sandbox=True,
    channels=("whatsapp",),
    description="In-process sandbox WhatsApp: sent, delivered and read receipts by webhook.",
)
