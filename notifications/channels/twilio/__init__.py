"""Twilio: SMS and WhatsApp (``whatsapp:+55...`` addresses) on the official ``twilio`` SDK.

``client`` is the only module that touches the SDK; its HTTP goes through the shared
``ProviderClient`` (``LedgerHttpClient``). ``adapter`` implements ``MessageChannel`` for both
channels and bounds duplicate sends (Twilio takes no idempotency key for a message create).
``webhooks`` takes status callbacks and inbound messages at ``/webhooks/twilio/``, verified by
``X-Twilio-Signature`` with the SDK's ``RequestValidator``; STOP/PARAR/SAIR opt the customer out
of that channel in the consent ledger. Twilio's JSON never leaves this package.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from integrations.providers import MESSAGING, ProviderSetting, ProviderSpec, WebhookRoute

_SID = re.compile(r"[0-9a-f]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
WEBHOOK_PATH = "/webhooks/twilio/"


def _sid(prefix: str) -> Any:
    def check(value: Any) -> str | None:
        text = value if isinstance(value, str) else ""
        if not text.startswith(prefix) or not _SID.fullmatch(text[2:]):
            return f"must be {prefix} followed by 32 lower-case hex digits"
        return None

    return check


def _auth_token(value: Any) -> str | None:
    text = value if isinstance(value, str) else ""
    if not _SID.fullmatch(text):
        return "must be 32 lower-case hex digits (the account's Auth Token)"
    return None


def _sender(value: Any) -> str | None:
    text = value if isinstance(value, str) else ""
    if not _E164.fullmatch(text.removeprefix("whatsapp:")):
        return "must be a phone number in E.164 (+5511...) or whatsapp:+5511..."
    return None


def _callback_url(value: Any) -> str | None:
    text = value if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be the absolute public URL Twilio calls (https://...)"
    if not parts.path.endswith(WEBHOOK_PATH) or parts.fragment:
        return f"must be the URL of {WEBHOOK_PATH} (no #fragment), exactly as Twilio calls it"
    return None


def _api_base(value: Any) -> str | None:
    text = value if isinstance(value, str) else ""
    if not text.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        return "must be an https:// URL"
    return None


spec = ProviderSpec(
    family=MESSAGING.name,
    name="twilio",
    adapter="notifications.channels.twilio.adapter.TwilioChannel",
    enabled_by="TWILIO_ENABLED",
    webhooks=(WebhookRoute("twilio", "notifications.channels.twilio.webhooks.endpoint"),),
    settings=(
        ProviderSetting("TWILIO_ACCOUNT_SID", check=_sid("AC")),
        ProviderSetting("TWILIO_AUTH_TOKEN", check=_auth_token),
        ProviderSetting("TWILIO_FROM", required=False, check=_sender),
        ProviderSetting("TWILIO_MESSAGING_SERVICE_SID", required=False, check=_sid("MG")),
        ProviderSetting(
            "TWILIO_STATUS_CALLBACK_URL",
            check=_callback_url,
            help="Set TWILIO_STATUS_CALLBACK_URL to the public URL of /webhooks/twilio/ "
            "(https://switchboard.example.com/webhooks/twilio/), exactly as Twilio calls it.",
        ),
        ProviderSetting("TWILIO_API_BASE", check=_api_base),
    ),
    one_of=(("TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID"),),
    channels=("sms", "whatsapp"),
    description="SMS and WhatsApp through Twilio, with status callbacks and STOP opt-outs.",
)
