"""Provider credentials that are not plain settings, encrypted at rest.

OAuth access and refresh tokens (Melhor Envio today, later HubSpot and others) change while the
app runs, so they live in ``ProviderCredential`` rows, never in settings. Each value is a Fernet
token made with ``CREDENTIALS_KEYS`` (comma-separated Fernet keys from the environment): the
first key encrypts, every key decrypts (``MultiFernet``). To rotate, put a new key first, run
``manage.py rotate_credentials`` (re-encrypts every row with it), then drop the old key.

A value read back is a ``Credential`` whose ``repr`` hides it, and it is added to the set of
values the log processor ``integrations.redaction.redact_secrets`` scrubs from every log line; adapters also pass
it to ``ProviderClient(secret_values=...)`` so the ProviderCall ledger never holds it. The admin
shows provider, name, expiry and ``updated_at`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from integrations.exceptions import InvalidCredential
from integrations.models import ProviderCredential, WebhookEndpoint
from integrations.providers import fernet_keys
from integrations.redaction import remember_secret as _remember


class CredentialUnreadable(ImproperlyConfigured):
    """A stored credential that no key in ``CREDENTIALS_KEYS`` decrypts (a key was dropped
    before ``rotate_credentials`` ran, or the row was tampered with)."""


@dataclass(frozen=True)
class Credential:
    provider: str
    name: str
    value: str = field(repr=False)
    expires_at: datetime | None = None
    updated_at: datetime | None = None


def credential_keys() -> list[str]:
    raw: Any = getattr(settings, "CREDENTIALS_KEYS", "")
    items = raw if isinstance(raw, list | tuple) else str(raw or "").split(",")
    return [str(key).strip() for key in items if str(key).strip()]


def _fernet() -> MultiFernet:
    keys = credential_keys()
    problem = fernet_keys(keys)
    if problem:
        raise ImproperlyConfigured(f"CREDENTIALS_KEYS {problem}.")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise CredentialUnreadable(
            "A stored credential cannot be decrypted with CREDENTIALS_KEYS; keep the old key "
            "listed until manage.py rotate_credentials has run."
        ) from None


def credential_set(
    *, provider: str, name: str, value: str, expires_at: datetime | None = None
) -> Credential:
    """Store ``value`` encrypted as ``provider``/``name`` (replacing what was there), with its
    expiry. Idempotent. Raises InvalidCredential for an empty value, ImproperlyConfigured without keys."""
    if not value:
        raise InvalidCredential("A credential needs a value.")
    _remember(value)
    row, _ = ProviderCredential.objects.update_or_create(
        provider=provider,
        name=name,
        defaults={"ciphertext": encrypt(value), "expires_at": expires_at},
    )
    return Credential(provider, name, value, row.expires_at, row.updated_at)


def credential_get(*, provider: str, name: str) -> Credential | None:
    """The decrypted credential, or None when none is stored. Raises CredentialUnreadable."""
    row = ProviderCredential.objects.filter(provider=provider, name=name).first()
    if row is None:
        return None
    value = decrypt(row.ciphertext)
    _remember(value)
    return Credential(provider, name, value, row.expires_at, row.updated_at)


def credential_delete(*, provider: str, name: str) -> bool:
    """Forget a credential; True when one was stored."""
    deleted, _ = ProviderCredential.objects.filter(provider=provider, name=name).delete()
    return deleted > 0


def credentials_rotate() -> int:
    """Re-encrypt every stored credential with the first key of ``CREDENTIALS_KEYS``; answers
    how many rows. Each row is locked and rewritten in one transaction; expiry and values are
    kept. Raises CredentialUnreadable (nothing changed) when a row decrypts with no listed key."""
    fernet = _fernet()
    count = 0
    with transaction.atomic():
        rows = list(ProviderCredential.objects.select_for_update().order_by("pk"))
        for row in rows:
            try:
                rotated = fernet.rotate(row.ciphertext.encode()).decode()
            except InvalidToken:
                raise CredentialUnreadable(
                    f"Credential {row.provider}/{row.name} decrypts with no key in "
                    "CREDENTIALS_KEYS; nothing was rotated."
                ) from None
            ProviderCredential.objects.filter(pk=row.pk).update(ciphertext=rotated)
            count += 1
        count += _rotate_webhook_endpoint_secrets(fernet)
    return count


def _rotate_webhook_endpoint_secrets(fernet: MultiFernet) -> int:
    """Outbound webhook endpoints keep their signing secrets (current and previous) with the
    same keys; they are re-encrypted with the rest."""
    count = 0
    for endpoint in WebhookEndpoint.objects.select_for_update().order_by("pk"):
        fields = {}
        for name in ("secret_ciphertext", "previous_secret_ciphertext"):
            value = getattr(endpoint, name)
            if not value:
                continue
            try:
                fields[name] = fernet.rotate(value.encode()).decode()
            except InvalidToken:
                raise CredentialUnreadable(
                    f"The secret of outbound webhook endpoint {endpoint.pk} decrypts with no key "
                    "in CREDENTIALS_KEYS; nothing was rotated."
                ) from None
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**fields)
        count += 1
    return count
