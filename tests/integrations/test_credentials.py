"""Issue 12 item 7: provider credentials encrypted at rest, rotated by a command, never shown."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import structlog
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from integrations.credentials import (
    CredentialUnreadable,
    credential_delete,
    credential_get,
    credential_set,
    credentials_rotate,
)
from integrations.models import ProviderCredential
from integrations.providers import fernet_keys

pytestmark = pytest.mark.django_db

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token-value-0001"


def _raw_ciphertext(provider: str, name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ciphertext FROM integrations_providercredential WHERE provider=%s AND name=%s",
            [provider, name],
        )
        return str(cursor.fetchone()[0])


def _value(name: str) -> str:
    got = credential_get(provider="melhor_envio", name=name)
    assert got is not None
    return got.value


def test_round_trip_keeps_value_and_expiry():
    expires = timezone.now() + timedelta(hours=2)
    credential_set(provider="melhor_envio", name="access_token", value=TOKEN, expires_at=expires)
    got = credential_get(provider="melhor_envio", name="access_token")
    assert got is not None
    assert got.value == TOKEN
    assert got.expires_at == expires
    assert TOKEN not in repr(got)
    # Setting again replaces, never a second row.
    credential_set(provider="melhor_envio", name="access_token", value=TOKEN + "2")
    assert ProviderCredential.objects.count() == 1
    assert _value("access_token") == TOKEN + "2"
    assert credential_delete(provider="melhor_envio", name="access_token") is True
    assert credential_get(provider="melhor_envio", name="access_token") is None


def test_database_holds_ciphertext_not_plaintext():
    credential_set(provider="melhor_envio", name="refresh_token", value=TOKEN)
    stored = _raw_ciphertext("melhor_envio", "refresh_token")
    assert TOKEN not in stored
    assert "access-token-value" not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token


def test_rotation_reencrypts_with_the_first_key_and_old_key_can_go(settings):
    old_key = settings.CREDENTIALS_KEYS[0]
    credential_set(provider="melhor_envio", name="access_token", value=TOKEN)
    before = _raw_ciphertext("melhor_envio", "access_token")
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, old_key]
    # Readable with both listed, before rotating.
    assert _value("access_token") == TOKEN
    out = io.StringIO()
    call_command("rotate_credentials", stdout=out)
    assert "Re-encrypted 1 credential" in out.getvalue()
    after = _raw_ciphertext("melhor_envio", "access_token")
    assert after != before
    settings.CREDENTIALS_KEYS = [new_key]  # the old key removed after rotating
    assert _value("access_token") == TOKEN
    assert Fernet(new_key.encode()).decrypt(after.encode()).decode() == TOKEN


def test_without_the_old_key_and_no_rotation_it_refuses_and_rotation_changes_nothing(settings):
    credential_set(provider="melhor_envio", name="access_token", value=TOKEN)
    before = _raw_ciphertext("melhor_envio", "access_token")
    settings.CREDENTIALS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CredentialUnreadable):
        credential_get(provider="melhor_envio", name="access_token")
    with pytest.raises(CredentialUnreadable):
        credentials_rotate()
    assert _raw_ciphertext("melhor_envio", "access_token") == before


def test_keys_format_check():
    assert fernet_keys([]) is not None
    assert fernet_keys("not-a-key") is not None
    assert fernet_keys(Fernet.generate_key().decode()) is None
    assert fernet_keys([Fernet.generate_key().decode(), "x"]) == (
        "(key 2) is not a Fernet key (url-safe base64 of 32 bytes)"
    )


def test_admin_shows_no_token(client, admin_user):
    credential_set(
        provider="melhor_envio",
        name="access_token",
        value=TOKEN,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    row = ProviderCredential.objects.get()
    client.force_login(admin_user)
    listing = client.get(reverse("admin:integrations_providercredential_changelist"))
    detail = client.get(reverse("admin:integrations_providercredential_change", args=[row.pk]))
    for page in (listing, detail):
        assert page.status_code == 200
        html = page.content.decode()
        assert "melhor_envio" in html
        assert TOKEN not in html
        assert row.ciphertext not in html
        assert row.ciphertext[:20] not in html
    assert "access_token" in detail.content.decode()


def test_a_credential_value_never_reaches_a_log_line(json_log):
    credential_set(provider="melhor_envio", name="access_token", value=TOKEN)
    log = structlog.get_logger("test")
    log.warning("oops", detail=f"Bearer {TOKEN}", refresh_token="r-0123456789", nested={"x": TOKEN})
    line = json.loads(json_log.getvalue().strip().splitlines()[-1])
    assert TOKEN not in json_log.getvalue()
    assert line["detail"] == "Bearer [redacted]"
    assert line["refresh_token"] == "[redacted]"
    assert line["nested"] == {"x": "[redacted]"}
