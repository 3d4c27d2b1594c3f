"""``POST /webhooks/example-pay/``: Standard Webhooks-signed; it maps no event type, so every
verified delivery is stored and kept as ignored."""

from django.conf import settings

from integrations.webhooks.standard import StandardWebhooksEndpoint

endpoint = StandardWebhooksEndpoint(
    name="example-pay",
    secrets=lambda: [getattr(settings, "EXAMPLE_WEBHOOK_SECRET", "")],
    handlers={},
)
