"""Which provider each family uses, through explicit registries (name -> adapter class)."""

from config.settings.env import env

PAYMENT_PROVIDERS = {
    "sandbox": "payments.providers.sandbox.adapter.SandboxPaymentProvider",
    "stripe": "payments.providers.stripe.adapter.StripePaymentProvider",
    "asaas": "payments.providers.asaas.adapter.AsaasPaymentProvider",
}
PAYMENT_PROVIDER = env.str("PAYMENT_PROVIDER", default="sandbox")
DEFAULT_PAYMENT_METHOD = env.str("DEFAULT_PAYMENT_METHOD", default="card")
# The payment status backstop (payments/backstop.py, every 5 minutes): a payment still pending or
# processing this long after it was created is re-fetched from its provider, in case its webhook
# was lost...
PAYMENT_BACKSTOP_AFTER_SECONDS = env.int("PAYMENT_BACKSTOP_AFTER_SECONDS", default=15 * 60)
# ...at most this often per payment, at most this many payments per run, and the run starts no
# new fetch after this many seconds (it must end well within the task cluster's timeout).
PAYMENT_BACKSTOP_RECHECK_SECONDS = env.int("PAYMENT_BACKSTOP_RECHECK_SECONDS", default=10 * 60)
PAYMENT_BACKSTOP_BATCH = env.int("PAYMENT_BACKSTOP_BATCH", default=200)
PAYMENT_BACKSTOP_SECONDS = env.float("PAYMENT_BACKSTOP_SECONDS", default=30.0)

SHIPPING_CARRIERS = {
    "sandbox": "shipping.carriers.sandbox.adapter.SandboxCarrier",
}
SHIPPING_CARRIER = env.str("SHIPPING_CARRIER", default="sandbox")

# Channel -> adapter; e-mail goes through Django's e-mail backend (console in the demo).
MESSAGE_CHANNELS = {
    "email": "notifications.channels.email.EmailChannel",
    "whatsapp": "notifications.channels.sandbox.SandboxWhatsAppChannel",
}
