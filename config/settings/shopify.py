"""Shopify (orders pulled from the store, tracking written back). Enabled by SHOPIFY_ENABLED;
the system checks refuse to start without its settings or with malformed ones
(orders/sources/shopify/__init__.py). See docs/shopify.md."""

import os

from config.settings.env import env

SHOPIFY_ENABLED = env.bool("SHOPIFY_ENABLED", default=False)
# The shop's own domain, e.g. "myshop.myshopify.com" (webhooks from another shop are refused).
SHOPIFY_SHOP = env.str("SHOPIFY_SHOP", default="").strip().lower()
# The custom app's Admin API access token (shpat_...), sent as X-Shopify-Access-Token.
SHOPIFY_ACCESS_TOKEN = os.environ.get("SHOPIFY_ACCESS_TOKEN", "").strip()
# The app's client secret (API secret key): the key of the X-Shopify-Hmac-Sha256 HMAC.
SHOPIFY_WEBHOOK_SECRET = os.environ.get("SHOPIFY_WEBHOOK_SECRET", "").strip()
# While rotating the app secret, webhooks signed with the old one are still accepted.
SHOPIFY_WEBHOOK_SECRET_PREVIOUS = os.environ.get("SHOPIFY_WEBHOOK_SECRET_PREVIOUS", "").strip()
# The Admin REST API version the client calls (and the webhooks are expected in).
SHOPIFY_API_VERSION = env.str("SHOPIFY_API_VERSION", default="2026-10")
# Where the Admin API is: https://<SHOPIFY_SHOP> unless set (tests and the demo point it at a
# local fake). The client appends /admin/api/<SHOPIFY_API_VERSION>/.
SHOPIFY_API_BASE = env.str("SHOPIFY_API_BASE", default="")
# Whether Shopify e-mails the customer when we write the tracking number back (Switchboard's
# own notification rules already tell the customer; off by default to avoid two messages).
SHOPIFY_NOTIFY_CUSTOMER = env.bool("SHOPIFY_NOTIFY_CUSTOMER", default=False)
