"""Asaas (Brazil: Pix, boleto, card, split). Enabled by ASAAS_ENABLED; the system checks refuse to
start without its secrets or with malformed ones (payments/providers/asaas/__init__.py)."""

import os

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env

ASAAS_ENABLED = env.bool("ASAAS_ENABLED", default=False)
# Read verbatim: Asaas keys start with "$aact_", which django-environ would take for a reference
# to another variable (and fail on).
ASAAS_API_KEY = os.environ.get("ASAAS_API_KEY", "").strip()
# The authToken set on the Asaas webhook, sent back verbatim in asaas-access-token. To rotate it,
# accept both while Asaas switches: the new one here and the old one in
# ASAAS_WEBHOOK_TOKEN_PREVIOUS, or both here comma-separated ("new, old"). Spaces around the commas
# are not part of a token (Asaas tokens have none); blanks are dropped, never accepted.
ASAAS_WEBHOOK_TOKEN = env.str("ASAAS_WEBHOOK_TOKEN", default="")
ASAAS_WEBHOOK_TOKEN_PREVIOUS = env.str("ASAAS_WEBHOOK_TOKEN_PREVIOUS", default="")
# Sandbox by default; production is https://api.asaas.com/v3. Tests point it at a local fake.
ASAAS_API_BASE = env.str("ASAAS_API_BASE", default="https://api-sandbox.asaas.com/v3")
# Split: the sellers' wallet ids and their share, e.g. "wallet_id:10%" or "wallet_id:1500".
ASAAS_SPLIT: list[str] = env.list("ASAAS_SPLIT", default=[])
# A Pix charge still unpaid at its due date (PAYMENT_OVERDUE) expires; its order is then
# "cancel"led, or gets a "new_charge" (a new Pix code, sent to the customer). Either way the
# expired charge is deleted at Asaas so it can no longer be paid.
ASAAS_PIX_EXPIRED_ORDER_ACTION = env.str("ASAAS_PIX_EXPIRED_ORDER_ACTION", default="cancel")
PIX_EXPIRED_ORDER_ACTIONS = ("cancel", "new_charge")

if ASAAS_PIX_EXPIRED_ORDER_ACTION not in PIX_EXPIRED_ORDER_ACTIONS:
    raise ImproperlyConfigured(
        f"ASAAS_PIX_EXPIRED_ORDER_ACTION is {ASAAS_PIX_EXPIRED_ORDER_ACTION!r}; "
        f"it must be one of {', '.join(PIX_EXPIRED_ORDER_ACTIONS)}."
    )
