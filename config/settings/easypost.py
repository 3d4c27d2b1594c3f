"""EasyPost (labels from many carriers: USPS, UPS, FedEx, ...). Enabled by EASYPOST_ENABLED; the
system checks refuse to start without its secrets or with malformed ones
(shipping/carriers/easypost/__init__.py)."""

import os

from config.settings.env import env

EASYPOST_ENABLED = env.bool("EASYPOST_ENABLED", default=False)
# EZAK... (production) or EZTK... (test); sent as the API's Basic/Bearer credential.
EASYPOST_API_KEY = os.environ.get("EASYPOST_API_KEY", "").strip()
# The webhook_secret given when the webhook was registered (POST /v2/webhooks); the key of the
# X-Hmac-Signature HMAC. Read verbatim: EasyPost normalises it (NFKD) before signing.
EASYPOST_WEBHOOK_SECRET = os.environ.get("EASYPOST_WEBHOOK_SECRET", "").strip()
# While rotating the webhook secret, deliveries signed with the old one are still accepted.
EASYPOST_WEBHOOK_SECRET_PREVIOUS = os.environ.get("EASYPOST_WEBHOOK_SECRET_PREVIOUS", "").strip()
# Tests and the demo point it at a local fake.
EASYPOST_API_BASE = env.str("EASYPOST_API_BASE", default="https://api.easypost.com/v2")
# Carriers offered in quotes ("USPS,UPS"); empty = every rate the account gets.
EASYPOST_CARRIERS = env.str("EASYPOST_CARRIERS", default="")
# Where parcels leave from (the sender on every label).
EASYPOST_FROM_NAME = env.str("EASYPOST_FROM_NAME", default="")
EASYPOST_FROM_COMPANY = env.str("EASYPOST_FROM_COMPANY", default="")
EASYPOST_FROM_STREET1 = env.str("EASYPOST_FROM_STREET1", default="")
EASYPOST_FROM_STREET2 = env.str("EASYPOST_FROM_STREET2", default="")
EASYPOST_FROM_CITY = env.str("EASYPOST_FROM_CITY", default="")
EASYPOST_FROM_STATE = env.str("EASYPOST_FROM_STATE", default="")
EASYPOST_FROM_ZIP = env.str("EASYPOST_FROM_ZIP", default="")
EASYPOST_FROM_COUNTRY = env.str("EASYPOST_FROM_COUNTRY", default="US")
EASYPOST_FROM_PHONE = env.str("EASYPOST_FROM_PHONE", default="")
EASYPOST_FROM_EMAIL = env.str("EASYPOST_FROM_EMAIL", default="")
