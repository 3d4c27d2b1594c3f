"""Asaas (Brazil: Pix, boleto, card, split). Enabled by ASAAS_ENABLED; start-up fails without its
secrets."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env

ASAAS_ENABLED = env.bool("ASAAS_ENABLED", default=False)
ASAAS_API_KEY = env.str("ASAAS_API_KEY", default="")
ASAAS_WEBHOOK_TOKEN = env.str("ASAAS_WEBHOOK_TOKEN", default="")
# Sandbox by default; production is https://api.asaas.com/v3. Tests point it at a local fake.
ASAAS_API_BASE = env.str("ASAAS_API_BASE", default="https://api-sandbox.asaas.com/v3")
# Split: the sellers' wallet ids and their share, e.g. "wallet_id:10%" or "wallet_id:1500".
ASAAS_SPLIT: list[str] = env.list("ASAAS_SPLIT", default=[])

if ASAAS_ENABLED and not (ASAAS_API_KEY and ASAAS_WEBHOOK_TOKEN):
    raise ImproperlyConfigured("ASAAS_ENABLED needs ASAAS_API_KEY and ASAAS_WEBHOOK_TOKEN.")
