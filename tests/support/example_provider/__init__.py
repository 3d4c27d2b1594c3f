"""A provider package added the documented way (docs/adding-a-provider.md): this ``spec`` plus one
settings line (``PAYMENT_PROVIDERS += ["tests.support.example_provider"]``). Used by
tests/integrations/test_provider_seam.py to show that nothing else has to change."""

from integrations.providers import (
    PAYMENTS,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    prefixed,
)

spec = ProviderSpec(
    family=PAYMENTS.name,
    name="example",
    adapter="tests.support.example_provider.adapter.ExamplePaymentProvider",
    enabled_by="EXAMPLE_ENABLED",
    webhooks=(WebhookRoute("example-pay", "tests.support.example_provider.webhooks.endpoint"),),
    settings=(ProviderSetting("EXAMPLE_WEBHOOK_SECRET", check=prefixed("whsec_", min_length=8)),),
)
