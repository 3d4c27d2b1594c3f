"""Melhor Envio (Brazil: quotes, labels, tracking). Enabled by MELHOR_ENVIO_ENABLED; the system
checks refuse to start without its secrets or with malformed ones
(shipping/carriers/melhor_envio/__init__.py).

OAuth2: the app's client id and secret come from here; the access and refresh tokens the
authorisation gives are stored encrypted in the database (integrations/credentials.py), seeded
once with ``MELHOR_ENVIO_REFRESH_TOKEN`` (or ``MELHOR_ENVIO_ACCESS_TOKEN``) and refreshed by the
adapter before they expire and on a 401."""

import os

from config.settings.env import env

MELHOR_ENVIO_ENABLED = env.bool("MELHOR_ENVIO_ENABLED", default=False)
MELHOR_ENVIO_CLIENT_ID = env.str("MELHOR_ENVIO_CLIENT_ID", default="")
# Also the key of the X-ME-Signature HMAC on webhooks. Read verbatim (may hold "$").
MELHOR_ENVIO_CLIENT_SECRET = os.environ.get("MELHOR_ENVIO_CLIENT_SECRET", "").strip()
# While rotating the app secret, webhooks signed with the old one are still accepted.
MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS = os.environ.get(
    "MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS", ""
).strip()
# First tokens from the OAuth authorisation, stored encrypted on first use; later ones come from
# refreshing. Leave empty once the database holds them.
MELHOR_ENVIO_REFRESH_TOKEN = os.environ.get("MELHOR_ENVIO_REFRESH_TOKEN", "").strip()
MELHOR_ENVIO_ACCESS_TOKEN = os.environ.get("MELHOR_ENVIO_ACCESS_TOKEN", "").strip()
# The sandbox base URL, used unless MELHOR_ENVIO_API_BASE names another (production:
# https://melhorenvio.com.br/api/v2; tests and the demo point it at a local fake).
MELHOR_ENVIO_SANDBOX = env.str(
    "MELHOR_ENVIO_SANDBOX", default="https://sandbox.melhorenvio.com.br/api/v2"
)
MELHOR_ENVIO_API_BASE = env.str("MELHOR_ENVIO_API_BASE", default="") or MELHOR_ENVIO_SANDBOX
# The OAuth token endpoint is <site>/oauth/token, the site being the API base without /api/v2.
MELHOR_ENVIO_TOKEN_URL = env.str("MELHOR_ENVIO_TOKEN_URL", default="")
# Refresh the access token this long before it expires.
MELHOR_ENVIO_REFRESH_MARGIN_SECONDS = env.int("MELHOR_ENVIO_REFRESH_MARGIN_SECONDS", default=3600)
# User-Agent: "App name (tech contact e-mail)", as Melhor Envio asks of every app.
MELHOR_ENVIO_APP_NAME = env.str("MELHOR_ENVIO_APP_NAME", default="Switchboard")
MELHOR_ENVIO_CONTACT_EMAIL = env.str("MELHOR_ENVIO_CONTACT_EMAIL", default="")
# Service ids offered in quotes ("1,2,17": PAC, SEDEX, Mini Envios at Correios); empty = all.
MELHOR_ENVIO_SERVICES = env.str("MELHOR_ENVIO_SERVICES", default="")
# Where parcels leave from (the sender on every label).
MELHOR_ENVIO_FROM_NAME = env.str("MELHOR_ENVIO_FROM_NAME", default="")
MELHOR_ENVIO_FROM_PHONE = env.str("MELHOR_ENVIO_FROM_PHONE", default="")
MELHOR_ENVIO_FROM_EMAIL = env.str("MELHOR_ENVIO_FROM_EMAIL", default="")
MELHOR_ENVIO_FROM_DOCUMENT = env.str("MELHOR_ENVIO_FROM_DOCUMENT", default="")
MELHOR_ENVIO_FROM_POSTAL_CODE = env.str("MELHOR_ENVIO_FROM_POSTAL_CODE", default="")
MELHOR_ENVIO_FROM_ADDRESS = env.str("MELHOR_ENVIO_FROM_ADDRESS", default="")
MELHOR_ENVIO_FROM_NUMBER = env.str("MELHOR_ENVIO_FROM_NUMBER", default="")
MELHOR_ENVIO_FROM_DISTRICT = env.str("MELHOR_ENVIO_FROM_DISTRICT", default="")
MELHOR_ENVIO_FROM_CITY = env.str("MELHOR_ENVIO_FROM_CITY", default="")
MELHOR_ENVIO_FROM_STATE = env.str("MELHOR_ENVIO_FROM_STATE", default="")
