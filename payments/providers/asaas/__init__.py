"""Asaas (Brazil): Pix, boleto and card payments with split, refunds, and its webhooks.

``client`` speaks the HTTP API through the shared ``ProviderClient``; ``adapter`` implements
``PaymentProvider``; ``webhooks`` is the ``/webhooks/asaas/`` endpoint. Asaas JSON and decimals
never leave this package: amounts cross its edge as integer minor units (BRL centavos).
"""

from integrations.providers import (
    PAYMENTS,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    comma_separated,
    prefixed,
    token,
)

# The authToken Asaas sends back in asaas-access-token: 32-255 characters, no spaces.
webhook_token = comma_separated(token(min_length=32, max_length=255))

spec = ProviderSpec(
    family=PAYMENTS.name,
    name="asaas",
    adapter="payments.providers.asaas.adapter.AsaasPaymentProvider",
    enabled_by="ASAAS_ENABLED",
    webhooks=(WebhookRoute("asaas", "payments.providers.asaas.webhooks.endpoint"),),
    settings=(
        ProviderSetting("ASAAS_API_KEY", check=prefixed("$aact_", min_length=16)),
        # "new, old" during a rotation, or the old one in ASAAS_WEBHOOK_TOKEN_PREVIOUS.
        ProviderSetting("ASAAS_WEBHOOK_TOKEN", check=webhook_token),
        ProviderSetting("ASAAS_WEBHOOK_TOKEN_PREVIOUS", required=False, check=webhook_token),
    ),
    description="Pix, boleto and cards in Brazil, with split, through its HTTP API.",
)
