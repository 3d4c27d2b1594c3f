"""Which providers this deployment has, per family, and which one new work goes to.

Each entry of a family's list is a provider package exporting a ``spec`` (see
``integrations/providers.py`` and docs/adding-a-provider.md); a listed provider is enabled by its
own flag (``STRIPE_ENABLED``, ...). Adding a provider is its package plus one line here. The
system checks (``integrations/checks.py``) refuse to start on an unknown package, an active
provider that is not enabled, and missing or malformed secrets.
"""

from config.settings.env import env

PAYMENT_PROVIDERS = env.list(
    "PAYMENT_PROVIDERS",
    default=[
        "payments.providers.sandbox",
        "payments.providers.stripe",
        "payments.providers.asaas",
    ],
)
# The provider new payments go to (its name, e.g. "asaas"); it must be enabled.
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

SHIPPING_CARRIERS = env.list(
    "SHIPPING_CARRIERS",
    default=[
        "shipping.carriers.sandbox",
        "shipping.carriers.melhor_envio",
        "shipping.carriers.easypost",
    ],
)
SHIPPING_CARRIER = env.str("SHIPPING_CARRIER", default="sandbox")

MESSAGE_PROVIDERS = env.list(
    "MESSAGE_PROVIDERS",
    default=[
        "notifications.channels.email",
        "notifications.channels.sandbox",
        "notifications.channels.zapi",
        "notifications.channels.twilio",
    ],
)
# Channel -> the provider that carries it ("email=email,whatsapp=sandbox"; whatsapp=zapi for
# Z-API; sms=twilio and whatsapp=twilio for Twilio); each must be enabled and able to carry that
# channel. E-mail goes through Django's e-mail backend.
MESSAGE_CHANNELS = env.dict("MESSAGE_CHANNELS", default={"email": "email", "whatsapp": "sandbox"})
EMAIL_CHANNEL_ENABLED = env.bool("EMAIL_CHANNEL_ENABLED", default=True)

# Storefronts that send their orders in (webhooks) and get tracking written back. No active one:
# every enabled storefront is used (Shopify: SHOPIFY_ENABLED).
ORDER_SOURCES = env.list("ORDER_SOURCES", default=["orders.sources.shopify"])

# CRMs that customers are synced with (HubSpot: HUBSPOT_ENABLED). No active one: every enabled
# CRM gets the contacts, notes and webhooks (docs/crm.md).
CRM_PROVIDERS = env.list("CRM_PROVIDERS", default=["accounts.crm.hubspot"])

# Packing order lines into volumes (shipping/packing.py, docs/shipping.md): what a unit without
# package data weighs and measures, and the limits of one volume (Correios').
SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS = env.int("SHIPPING_DEFAULT_ITEM_WEIGHT_GRAMS", default=300)
SHIPPING_DEFAULT_ITEM_DIMENSIONS_MM: tuple[int, int, int] = tuple(  # type: ignore[assignment]
    int(side)
    for side in env.list("SHIPPING_DEFAULT_ITEM_DIMENSIONS_MM", default=["160", "110", "50"])
)
SHIPPING_VOLUME_MAX_WEIGHT_GRAMS = env.int("SHIPPING_VOLUME_MAX_WEIGHT_GRAMS", default=30_000)
SHIPPING_VOLUME_MAX_SIDE_MM = env.int("SHIPPING_VOLUME_MAX_SIDE_MM", default=1_000)
SHIPPING_VOLUME_MAX_SIDES_SUM_MM = env.int("SHIPPING_VOLUME_MAX_SIDES_SUM_MM", default=2_000)
SHIPPING_VOLUME_MIN_DIMENSIONS_MM = (160, 110, 20)

# Shipping quotes (shipping/workflows.py shipping_quotes_fetch, docs/shipping.md): every enabled
# carrier is asked at once; what has not answered within the budget is skipped. Quotes leave
# from SHIPPING_ORIGIN_POSTAL_CODE unless the caller names an origin (empty: Melhor Envio's
# MELHOR_ENVIO_FROM_POSTAL_CODE).
SHIPPING_QUOTE_BUDGET_SECONDS = env.float("SHIPPING_QUOTE_BUDGET_SECONDS", default=3.0)
SHIPPING_ORIGIN_POSTAL_CODE = env.str("SHIPPING_ORIGIN_POSTAL_CODE", default="")
# Table rates, the answer when no carrier answers in time: each real quote keeps its price for
# the destination's first SHIPPING_TABLE_RATE_PREFIX_DIGITS digits and the parcel's weight band
# (the smallest upper bound, in grams, that holds it).
SHIPPING_TABLE_RATE_PREFIX_DIGITS = env.int("SHIPPING_TABLE_RATE_PREFIX_DIGITS", default=5)
SHIPPING_TABLE_RATE_WEIGHT_BANDS_GRAMS = [
    int(grams)
    for grams in env.list(
        "SHIPPING_TABLE_RATE_WEIGHT_BANDS_GRAMS",
        default=["300", "1000", "2000", "5000", "10000", "20000", "30000"],
    )
]
