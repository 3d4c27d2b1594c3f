"""Melhor Envio (Brazil): quotes, labels (cart -> checkout -> generate -> print), cancel,
tracking, and its ``order.*`` webhooks at ``/webhooks/melhor-envio/``.

``client`` speaks the HTTP API through the shared ``ProviderClient`` with OAuth2 bearer tokens
kept encrypted (``integrations.credentials``) and refreshed before expiry and on a 401;
``adapter`` implements ``Carrier``; ``tracking`` maps its statuses to ours; ``webhooks`` verifies
``X-ME-Signature``. Its JSON and units (cm, kg, BRL decimals) never leave this package.
"""

from integrations.providers import (
    SHIPPING,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    fernet_keys,
    https_url,
    token,
)


def _postal_code(value: object) -> str | None:
    digits = str(value or "").replace("-", "")
    if len(digits) != 8 or not digits.isascii() or not digits.isdigit():
        return "must be a Brazilian CEP of 8 digits"
    return None


def _contact(value: object) -> str | None:
    text = str(value or "")
    if "@" not in text or any(c.isspace() for c in text):
        return "must be the technical contact's e-mail address (sent in the User-Agent)"
    return None


spec = ProviderSpec(
    family=SHIPPING.name,
    name="melhor_envio",
    adapter="shipping.carriers.melhor_envio.adapter.MelhorEnvioCarrier",
    enabled_by="MELHOR_ENVIO_ENABLED",
    webhooks=(WebhookRoute("melhor-envio", "shipping.carriers.melhor_envio.webhooks.endpoint"),),
    settings=(
        ProviderSetting("MELHOR_ENVIO_CLIENT_ID", check=token(min_length=1, max_length=64)),
        ProviderSetting("MELHOR_ENVIO_CLIENT_SECRET", check=token(min_length=16, max_length=255)),
        ProviderSetting("MELHOR_ENVIO_API_BASE", check=https_url),
        ProviderSetting("MELHOR_ENVIO_CONTACT_EMAIL", check=_contact),
        ProviderSetting("MELHOR_ENVIO_FROM_POSTAL_CODE", check=_postal_code),
        ProviderSetting("CREDENTIALS_KEYS", check=fernet_keys),
    ),
    description="Brazilian carriers (Correios, Jadlog, ...) through Melhor Envio's HTTP API.",
)
