"""Stripe (cards): the SDK wrapper (``client``), the PaymentProvider (``adapter``) and the
``/webhooks/stripe/`` endpoint (``webhooks``)."""

from integrations.providers import (
    PAYMENTS,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    each,
    prefixed,
)

spec = ProviderSpec(
    family=PAYMENTS.name,
    name="stripe",
    adapter="payments.providers.stripe.adapter.StripePaymentProvider",
    enabled_by="STRIPE_ENABLED",
    webhooks=(WebhookRoute("stripe", "payments.providers.stripe.webhooks.endpoint"),),
    settings=(
        ProviderSetting("STRIPE_SECRET_KEY", check=prefixed("sk_", "rk_", min_length=8)),
        # From STRIPE_WEBHOOK_SECRET: whsec_..., comma-separated during a rotation.
        ProviderSetting(
            "STRIPE_WEBHOOK_SECRETS",
            check=each(prefixed("whsec_", min_length=8)),
            env="STRIPE_WEBHOOK_SECRET",
        ),
    ),
    description="Cards worldwide, through the official stripe SDK.",
)
