"""The sandbox's webhooks are rows first: sent once due, retried with backoff, re-sent when their
sender died, one sender at a time."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from integrations import sandbox
from integrations.models import SandboxWebhook, WebhookEvent
from integrations.sandbox import SandboxEvent, sandbox_emit


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _owe(count: int = 2) -> list[SandboxWebhook]:
    now = timezone.now()
    sandbox_emit(
        endpoint="sandbox-payments",
        events=[
            SandboxEvent("payment.unknown_kind", {"n": n}, now + timedelta(seconds=n))
            for n in range(count)
        ],
    )
    return list(SandboxWebhook.objects.order_by("pk"))


@pytest.fixture
def sending(settings: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The sandbox owes webhooks to the live server; the wake after commit is lost, so only what
    the test runs sends them."""
    settings.SANDBOX_SEND_WEBHOOKS = True
    settings.SANDBOX_WEBHOOK_TARGET = live_server.url
    monkeypatch.setattr(sandbox, "sandbox_wake", lambda: None)
    return settings


@pytest.mark.django_db(transaction=True)
def test_owed_webhooks_are_sent_once_and_stored_by_our_inbox(sending: Any) -> None:
    rows = _owe(2)
    SandboxWebhook.objects.update(due_at=timezone.now())

    assert sandbox.sweep() == 2
    assert sandbox.sweep() == 0  # nothing twice

    assert set(SandboxWebhook.objects.values_list("status", flat=True)) == {"sent"}
    stored = set(WebhookEvent.objects.values_list("event_id", flat=True))
    assert stored == {row.msg_id for row in rows}


@pytest.mark.django_db(transaction=True)
def test_a_refused_send_is_retried_with_backoff_then_given_up(sending: Any) -> None:
    sending.SANDBOX_WEBHOOK_TARGET = _closed_port_url()
    sending.SANDBOX_MAX_ATTEMPTS = 2
    (row,) = _owe(1)

    sandbox.sweep()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.due_at > timezone.now()  # backed off, not due again at once
    assert "ConnectionError" in row.last_error
    assert sandbox.sweep() == 0

    SandboxWebhook.objects.update(due_at=timezone.now())
    sandbox.sweep()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("dead", 2)


@pytest.mark.django_db(transaction=True)
def test_a_row_whose_sender_died_is_sent_again_but_a_live_claim_is_left_alone(
    sending: Any,
) -> None:
    first, second = _owe(2)
    now = timezone.now()
    SandboxWebhook.objects.update(due_at=now)
    stale = now - timedelta(seconds=sending.SANDBOX_CLAIM_TIMEOUT_SECONDS + 1)
    SandboxWebhook.objects.filter(pk=first.pk).update(status="pending", claimed_at=stale)
    SandboxWebhook.objects.filter(pk=second.pk).update(status="pending", claimed_at=now)

    assert sandbox.sweep() == 1

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == "sent"
    assert second.status == "pending"


@pytest.mark.django_db(transaction=True)
def test_only_one_sender_runs_at_a_time(sending: Any) -> None:
    _owe(1)
    cache.set(sandbox.SENDER_LOCK_KEY, "another-sender", timeout=60)
    try:
        assert sandbox.send() == 0
        assert SandboxWebhook.objects.get().status == "pending"
    finally:
        cache.delete(sandbox.SENDER_LOCK_KEY)

    assert sandbox.send() == 1
    assert SandboxWebhook.objects.get().status == "sent"
    assert cache.get(sandbox.SENDER_LOCK_KEY) is None  # the lease is given back


@pytest.mark.django_db
def test_nothing_is_owed_when_the_sandbox_sends_no_webhooks(settings: Any) -> None:
    settings.SANDBOX_SEND_WEBHOOKS = False
    assert _owe(3) == []
