"""Asaas (Brazil: Pix, boleto, card, split). Enabled by ASAAS_ENABLED; start-up fails without its
secrets."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env

ASAAS_ENABLED = env.bool("ASAAS_ENABLED", default=False)
ASAAS_API_KEY = env.str("ASAAS_API_KEY", default="")
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


def _webhook_tokens(*values: str) -> list[str]:
    """Every token in ``values`` (each a comma-separated list), trimmed, blanks dropped."""
    return [token.strip() for value in values for token in str(value).split(",") if token.strip()]


if ASAAS_ENABLED and not (
    ASAAS_API_KEY and _webhook_tokens(ASAAS_WEBHOOK_TOKEN, ASAAS_WEBHOOK_TOKEN_PREVIOUS)
):
    raise ImproperlyConfigured("ASAAS_ENABLED needs ASAAS_API_KEY and ASAAS_WEBHOOK_TOKEN.")
if ASAAS_PIX_EXPIRED_ORDER_ACTION not in PIX_EXPIRED_ORDER_ACTIONS:
    raise ImproperlyConfigured(
        f"ASAAS_PIX_EXPIRED_ORDER_ACTION is {ASAAS_PIX_EXPIRED_ORDER_ACTION!r}; "
        f"it must be one of {', '.join(PIX_EXPIRED_ORDER_ACTIONS)}."
    )
if any(
    any(c.isspace() for c in token)
    for token in _webhook_tokens(ASAAS_WEBHOOK_TOKEN, ASAAS_WEBHOOK_TOKEN_PREVIOUS)
):
    raise ImproperlyConfigured("An Asaas webhook token has no spaces; separate tokens by commas.")
