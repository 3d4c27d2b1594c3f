"""Which provider each family uses, through explicit registries (name -> adapter class)."""

from config.settings.env import env

PAYMENT_PROVIDERS = {
    "sandbox": "payments.providers.sandbox.adapter.SandboxPaymentProvider",
    "stripe": "payments.providers.stripe.adapter.StripePaymentProvider",
    "asaas": "payments.providers.asaas.adapter.AsaasPaymentProvider",
}
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="sandbox")
DEFAULT_PAYMENT_METHOD = env.str("DEFAULT_PAYMENT_METHOD", default="card")

SHIPPING_CARRIERS = {
    "sandbox": "shipping.carriers.sandbox.adapter.SandboxCarrier",
}
SHIPPING_CARRIER = env.str("SHIPPING_CARRIER", default="sandbox")

# Channel -> adapter; e-mail goes through Django's e-mail backend (console in the demo).
MESSAGE_CHANNELS = {
    "email": "notifications.channels.email.EmailChannel",
    "whatsapp": "notifications.channels.sandbox.SandboxWhatsAppChannel",
}
