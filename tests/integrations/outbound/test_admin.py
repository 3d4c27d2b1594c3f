"""Admin screens for provider calls and circuit breakers."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import CircuitBreaker, ProviderCall

pytestmark = pytest.mark.django_db


def _call(**fields):
    defaults = {
        "provider": "acme",
        "operation": "create_charge",
        "method": "POST",
        "url": "http://127.0.0.1/v1/charges",
        "status_code": 201,
        "outcome": "success",
        "attempt": 1,
        "idempotency_key": "pay:1",
        "subject_id": "",
    }
    return ProviderCall.objects.create(**{**defaults, **fields})


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_provider_call_changelist_filters_and_searches(admin_client, django_assert_max_num_queries):
    _call()
    _call(idempotency_key="refund:9", operation="refund", outcome="http_error", status_code=503)
    _call(provider="mailer", operation="send", idempotency_key="", subject_id="42")
    CircuitBreaker.objects.create(provider="acme")
    CircuitBreaker.objects.create(provider="mailer")
    url = reverse("admin:integrations_providercall_changelist")

    with django_assert_max_num_queries(12):
        page = admin_client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "refund:9" in body
    assert "?provider=mailer" in body  # the provider filter lists breaker rows
    assert "?operation=refund" in body

    def keys(**query):
        response = admin_client.get(url, query)
        assert response.status_code == 200
        return sorted(c.idempotency_key for c in response.context["cl"].result_list)

    assert keys(q="refund:9") == ["refund:9"]
    assert keys(q="refund") == []  # exact match only
    assert keys(q="42") == [""]
    assert keys(provider="mailer") == [""]
    assert keys(outcome="http_error") == ["refund:9"]
    assert keys(operation="create_charge") == ["pay:1"]
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert keys(created_at__gte=str(midnight)) == ["", "pay:1", "refund:9"]
    assert keys(created_at__lt=str(midnight)) == []


def test_provider_call_is_read_only(admin_client):
    call = _call()
    assert admin_client.get(reverse("admin:integrations_providercall_add")).status_code == 403
    change = admin_client.get(reverse("admin:integrations_providercall_change", args=[call.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert (
        admin_client.post(
            reverse("admin:integrations_providercall_delete", args=[call.pk])
        ).status_code
        == 403
    )
    assert ProviderCall.objects.filter(pk=call.pk).exists()


def test_breaker_changelist_shows_state_badges(admin_client):
    CircuitBreaker.objects.create(
        provider="acme", state="open", opened_at=timezone.now(), failures=7
    )
    CircuitBreaker.objects.create(provider="mailer", successes=3)

    page = admin_client.get(reverse("admin:integrations_circuitbreaker_changelist"))

    assert page.status_code == 200
    body = page.content.decode()
    assert "Open (calls refused, work queued)" in body
    assert "#c62828" in body and "#2e7d32" in body
    assert "Reset (close) breaker" in body


def test_reset_action_closes_the_selected_breakers(admin_client):
    acme = CircuitBreaker.objects.create(
        provider="acme", state="open", opened_at=timezone.now(), failures=7, successes=1
    )
    other = CircuitBreaker.objects.create(provider="other", state="open", opened_at=timezone.now())

    response = admin_client.post(
        reverse("admin:integrations_circuitbreaker_changelist"),
        {"action": "reset_breakers", "_selected_action": [acme.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Closed 1 breaker(s): acme." in response.content.decode()
    acme.refresh_from_db()
    assert (acme.state, acme.failures, acme.successes, acme.opened_at) == ("closed", 0, 0, None)
    other.refresh_from_db()
    assert other.state == "open"


def test_reset_action_needs_the_change_permission(client, support_user):
    from django.contrib.auth.models import Permission

    support_user.user_permissions.add(Permission.objects.get(codename="view_circuitbreaker"))
    client.force_login(support_user)
    breaker = CircuitBreaker.objects.create(provider="acme", state="open", opened_at=timezone.now())

    page = client.get(reverse("admin:integrations_circuitbreaker_changelist"))
    assert page.status_code == 200
    assert "Reset (close) breaker" not in page.content.decode()
    client.post(
        reverse("admin:integrations_circuitbreaker_changelist"),
        {"action": "reset_breakers", "_selected_action": [breaker.pk]},
    )
    breaker.refresh_from_db()
    assert breaker.state == "open"
