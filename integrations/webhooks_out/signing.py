"""Standard Webhooks signing for outbound messages, with secret rotation.

A secret is ``whsec_`` + base64 of 24 random bytes, stored encrypted (``integrations.credentials``
Fernet keys). After a rotation the previous secret keeps signing alongside the new one until
``previous_secret_expires_at``: the ``webhook-signature`` header then carries two ``v1,<sig>``
entries, space-separated, the new one first, so receivers can switch secrets at their own pace.
The MAC is the official ``standardwebhooks`` library's (the same the inbox verifies with).
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.credentials import decrypt, encrypt
from integrations.models import WebhookEndpoint
from integrations.redaction import remember_secret

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 24


def secret_generate() -> str:
    """A fresh endpoint secret in the Standard Webhooks format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_seal(secret: str) -> str:
    """The secret encrypted for storage (raises ImproperlyConfigured without CREDENTIALS_KEYS)."""
    remember_secret(secret)
    return encrypt(secret)


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets that sign for ``endpoint`` now: its current one, then the previous one while
    its grace period lasts."""
    now = now or timezone.now()
    found = [decrypt(endpoint.secret_ciphertext)]
    if (
        endpoint.previous_secret_ciphertext
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(decrypt(endpoint.previous_secret_ciphertext))
    for secret in found:
        remember_secret(secret)
    return found


def sign(*, secrets: list[str], msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers for ``body``
    signed with each of ``secrets`` (one ``v1,<base64>`` entry each, space-separated)."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body) for secret in secrets
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
