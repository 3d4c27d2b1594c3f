"""Staff writes in accounts that the audit log must hold: API keys created and revoked (from the
admin and the service) and webhook replays run from the command line (the OS user)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.access.api_keys import api_key_create, api_key_revoke
from accounts.access.exceptions import ApiKeyNotAllowed
from accounts.models import ApiKey, AuditLogEntry
from integrations.audit_hook import audit
from integrations.models import WebhookEvent

pytestmark = pytest.mark.django_db

A = AuditLogEntry.Action


def _entries(action: str) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action=action).order_by("id"))


# --- API keys -----------------------------------------------------------------------------------


def test_creating_a_key_in_the_admin_records_who_which_key_and_its_scopes(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_apikey_add"),
        {"name": "Storefront", "scopes": ["orders:read", "orders:write"]},
    )

    assert response.status_code == 302, response.content
    key = ApiKey.objects.get()
    [entry] = _entries(A.API_KEY_CREATED)
    assert entry.actor == admin_user
    assert entry.object_type == ContentType.objects.get_for_model(ApiKey)
    assert entry.object_id == str(key.pk)
    assert entry.changes["name"] == [None, "Storefront"]
    assert entry.changes["scopes"] == [None, ["orders:read", "orders:write"]]
    assert entry.ip == "127.0.0.1"
    # Neither the raw key nor its hash reaches the log.
    stored = str(entry.changes) + entry.summary + entry.object_label
    assert key.key_hash not in stored
    assert "key_hash" not in entry.changes


def test_a_refused_key_creation_records_nothing(admin_user):
    with pytest.raises(ApiKeyNotAllowed, match="Unknown scopes"):
        api_key_create(name="Bad", scopes=["root"], created_by=admin_user)
    with pytest.raises(ApiKeyNotAllowed, match="past"):
        api_key_create(
            name="Old",
            scopes=["orders:read"],
            created_by=admin_user,
            expires_at=timezone.now() - timedelta(days=1),
        )
    assert not ApiKey.objects.exists()
    assert not _entries(A.API_KEY_CREATED)


def test_revoking_from_the_admin_records_who_revoked_each_key_once(client, admin_user):
    first, _ = api_key_create(name="One", scopes=["orders:read"])
    second, _ = api_key_create(name="Two", scopes=["orders:read"])
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [str(first.pk), str(second.pk)]},
    )

    assert response.status_code == 302
    entries = _entries(A.API_KEY_REVOKED)
    assert {e.object_id for e in entries} == {str(first.pk), str(second.pk)}
    assert all(e.actor == admin_user for e in entries)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert entries[0].changes["revoked_at"][0] is None

    # Revoking an already revoked key changes nothing and records nothing.
    revoked_at = first.revoked_at
    api_key_revoke(key=first, revoked_by=admin_user)
    first.refresh_from_db()
    assert first.revoked_at == revoked_at
    assert len(_entries(A.API_KEY_REVOKED)) == 2


# --- webhook replays from the command line -----------------------------------------------------


def _dead_event(event_id: str) -> WebhookEvent:
    return WebhookEvent.objects.create(
        provider="audit-cli",
        event_id=event_id,
        event_type="thing.happened",
        body="{}",
        status=WebhookEvent.Status.DEAD,
        attempts=3,
    )


def test_a_command_line_replay_records_the_os_user_per_event(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    monkeypatch.delenv("SUDO_USER", raising=False)
    events = [_dead_event("evt_cli_1"), _dead_event("evt_cli_2")]

    call_command("replay_webhooks", "--provider", "audit-cli", stdout=io.StringIO())

    entries = _entries(A.WEBHOOK_REPLAY)
    assert {e.object_id for e in entries} == {str(e.pk) for e in events}
    assert {e.actor_label for e in entries} == {"os:alice"}
    assert all(e.actor is None for e in entries)
    # Outside the command, an actor-less entry is the system's again.
    audit("webhook_replay", obj=events[0])
    assert _entries(A.WEBHOOK_REPLAY)[-1].actor_label == "system"


def test_a_replay_under_sudo_names_the_caller(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "root")
    monkeypatch.setenv("SUDO_USER", "bob")
    _dead_event("evt_cli_sudo")

    call_command("replay_webhooks", "--event-id", "evt_cli_sudo", stdout=io.StringIO())

    [entry] = _entries(A.WEBHOOK_REPLAY)
    assert entry.actor_label == "os:root (sudo by bob)"


def test_a_dry_run_replay_records_nothing(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    event = _dead_event("evt_cli_dry")

    out = io.StringIO()
    call_command("replay_webhooks", "--provider", "audit-cli", "--dry-run", stdout=out)

    assert "1 event(s) would be replayed" in out.getvalue()
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.DEAD
    assert not _entries(A.WEBHOOK_REPLAY)
