"""Z-API (WhatsApp, Brazil): text, document (the boleto PDF) and image (the Pix QR code) messages,
and their status callbacks at ``/webhooks/zapi/<ZAPI_WEBHOOK_TOKEN>/``.

``client`` speaks the HTTP API (CONTRACTS §7) through the shared ``ProviderClient``; ``adapter``
implements ``MessageChannel`` and bounds duplicate sends (Z-API takes no idempotency key);
``webhooks`` authenticates callbacks by the secret URL token and the ``Client-Token`` header and
maps SENT/RECEIVED/READ/PLAYED to message status facts. Z-API's JSON never leaves this package.
"""

from __future__ import annotations

import re
from typing import Any

from integrations.providers import (
    MESSAGING,
    Check,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
)

_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def _matching(pattern: re.Pattern[str], what: str, *, min_length: int, max_length: int) -> Check:
    def check(value: Any) -> str | None:
        text = value if isinstance(value, str) else ""
        if not min_length <= len(text) <= max_length:
            return f"must be {min_length}-{max_length} characters (it has {len(text)})"
        if not pattern.fullmatch(text):
            return f"must be {what}"
        return None

    return check


def _api_base(value: Any) -> str | None:
    text = value if isinstance(value, str) else ""
    if not text.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        return "must be an https:// URL"
    return None


_webhook_token = _matching(
    _URL_SAFE,
    "letters, digits, - and _ (it is a path segment of the callback URL)",
    min_length=32,
    max_length=128,
)
_CALLBACK_URL_HINT = (
    "Set ZAPI_WEBHOOK_TOKEN to a random URL-safe token of at least 32 characters: the secret "
    "segment of the callback URL /webhooks/zapi/<token>/."
)

spec = ProviderSpec(
    family=MESSAGING.name,
    name="zapi",
    adapter="notifications.channels.zapi.adapter.ZapiWhatsAppChannel",
    enabled_by="ZAPI_ENABLED",
    webhooks=(WebhookRoute("zapi", "notifications.channels.zapi.webhooks.endpoint"),),
    settings=(
        ProviderSetting(
            "ZAPI_INSTANCE_ID",
            check=_matching(_ALPHANUMERIC, "letters and digits", min_length=16, max_length=64),
        ),
        ProviderSetting(
            "ZAPI_INSTANCE_TOKEN",
            check=_matching(_ALPHANUMERIC, "letters and digits", min_length=16, max_length=64),
        ),
        ProviderSetting(
            "ZAPI_CLIENT_TOKEN",
            check=_matching(_ALPHANUMERIC, "letters and digits", min_length=16, max_length=128),
        ),
        ProviderSetting("ZAPI_WEBHOOK_TOKEN", check=_webhook_token, help=_CALLBACK_URL_HINT),
        ProviderSetting(
            "ZAPI_WEBHOOK_TOKEN_PREVIOUS",
            required=False,
            check=_webhook_token,
            help=_CALLBACK_URL_HINT,
        ),
        ProviderSetting("ZAPI_API_BASE", check=_api_base),
    ),
    channels=("whatsapp",),
    description="WhatsApp through Z-API: text, documents and images, with status callbacks.",
)
