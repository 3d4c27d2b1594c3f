"""Resetting a circuit breaker by hand (an operations write) is in the audit log, with who did it
and the state it left, whether from the service or the admin action; resetting nothing records
nothing."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry
from integrations.models import CircuitBreaker
from integrations.outbound.breaker import breaker_reset

pytestmark = pytest.mark.django_db


def _entries() -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action="circuit_breaker_reset").order_by("id"))


def test_a_reset_is_audited_with_the_state_it_left(admin_user):
    breaker = CircuitBreaker.objects.create(
        provider="acme", state="open", opened_at=timezone.now(), failures=7
    )

    assert breaker_reset("acme", actor=admin_user) is True

    [entry] = _entries()
    assert entry.actor == admin_user
    assert entry.object_type == ContentType.objects.get_for_model(CircuitBreaker)
    assert entry.object_id == str(breaker.pk)
    assert entry.changes == {"state": ["open", "closed"]}


def test_resetting_a_provider_without_a_breaker_records_nothing(admin_user):
    assert breaker_reset("nobody", actor=admin_user) is False
    assert _entries() == []


def test_the_admin_reset_action_is_audited_per_breaker(client, admin_user):
    acme = CircuitBreaker.objects.create(provider="acme", state="open", opened_at=timezone.now())
    other = CircuitBreaker.objects.create(provider="other", state="half_open")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:integrations_circuitbreaker_changelist"),
        {"action": "reset_breakers", "_selected_action": [acme.pk, other.pk]},
    )

    assert response.status_code == 302
    entries = _entries()
    assert {(e.object_id, tuple(e.changes["state"])) for e in entries} == {
        (str(acme.pk), ("open", "closed")),
        (str(other.pk), ("half_open", "closed")),
    }
    assert {(e.actor, e.ip) for e in entries} == {(admin_user, "127.0.0.1")}


def test_a_refused_admin_reset_is_not_audited(client, support_user):
    from django.contrib.auth.models import Permission

    support_user.user_permissions.add(Permission.objects.get(codename="view_circuitbreaker"))
    client.force_login(support_user)
    breaker = CircuitBreaker.objects.create(provider="acme", state="open", opened_at=timezone.now())

    client.post(
        reverse("admin:integrations_circuitbreaker_changelist"),
        {"action": "reset_breakers", "_selected_action": [breaker.pk]},
    )

    breaker.refresh_from_db()
    assert breaker.state == "open"
    assert _entries() == []
