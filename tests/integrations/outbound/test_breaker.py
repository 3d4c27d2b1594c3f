"""The circuit breaker: opens at the failure ratio, refuses without touching the network,
half-opens after the cool-down for exactly one trial, closes or re-opens on its outcome."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import CircuitBreaker, ProviderCall
from integrations.outbound.breaker import (
    breaker_permit,
    breaker_record,
    breaker_reset,
    breaker_state,
    breaker_states,
)
from tests.integrations.outbound.conftest import Reply

pytestmark = pytest.mark.django_db

OPEN, HALF_OPEN, CLOSED = "open", "half_open", "closed"


def _fail_calls(client, n, path="/v1/down"):
    for _ in range(n):
        with pytest.raises(ProviderUnavailable):
            client.request("ping", "GET", path)


def _open_breaker(provider="acme", *, ago=timedelta(seconds=0)):
    opened_at = timezone.now() - ago
    CircuitBreaker.objects.update_or_create(
        provider=provider, defaults={"state": OPEN, "opened_at": opened_at, "failures": 4}
    )


def _cooldown_over(provider="acme"):
    CircuitBreaker.objects.filter(provider=provider).update(
        opened_at=timezone.now() - timedelta(seconds=31)
    )


def test_opens_at_the_failure_ratio_once_the_window_has_enough_calls(fake_provider, make_client):
    fake_provider.script("/v1/up", 200)
    fake_provider.script("/v1/down", 503)
    client = make_client(max_attempts=1)
    client.request("ping", "GET", "/v1/up")
    client.request("ping", "GET", "/v1/up")
    _fail_calls(client, 1)
    assert breaker_state("acme") == CLOSED  # 1 of 3 failed, below MIN_CALLS (4)

    _fail_calls(client, 1)  # 2 of 4 failed: ratio 0.5 reached with 4 calls

    row = CircuitBreaker.objects.get(provider="acme")
    assert (row.state, row.successes, row.failures) == (OPEN, 2, 2)
    assert row.opened_at is not None


def test_4xx_answers_count_as_successes(fake_provider, make_client):
    fake_provider.script("/v1/missing", 404)
    client = make_client(max_attempts=1)
    for _ in range(5):
        with pytest.raises(ProviderRejected):
            client.request("get", "GET", "/v1/missing")

    row = CircuitBreaker.objects.get(provider="acme")
    assert (row.state, row.successes, row.failures) == (CLOSED, 5, 0)


def test_every_retry_counts_and_the_breaker_stops_retries_once_open(fake_provider, make_client):
    fake_provider.script("/v1/down", 503)
    client = make_client(max_attempts=3)
    _fail_calls(client, 1)  # 3 failed attempts, below MIN_CALLS
    assert breaker_state("acme") == CLOSED

    with pytest.raises(ProviderUnavailable) as caught:
        client.request("ping", "GET", "/v1/down")  # 4th failure opens it; the 5th is not sent

    assert not isinstance(caught.value, CircuitOpen)
    assert "circuit opened" in str(caught.value)
    assert breaker_state("acme") == OPEN
    assert len(fake_provider.requests_to("/v1/down")) == 4
    assert ProviderCall.objects.count() == 4


def test_open_breaker_refuses_without_touching_the_network(fake_provider, make_client):
    fake_provider.script("/v1/charges", 200)
    _open_breaker(ago=timedelta(seconds=10))

    with pytest.raises(CircuitOpen) as caught:
        make_client().request("create_charge", "POST", "/v1/charges", idempotency_key="pay:1")

    assert fake_provider.seen == []
    retry_after = caught.value.retry_after
    assert retry_after is not None
    assert 19 <= retry_after <= 20  # 30 s cool-down, opened 10 s ago
    call = ProviderCall.objects.get()
    assert (call.outcome, call.attempt, call.status_code, call.duration_ms) == (
        "circuit_open",
        1,
        None,
        0,
    )
    assert call.idempotency_key == "pay:1"


def test_window_expiry_starts_a_fresh_window(fake_provider, make_client):
    fake_provider.script("/v1/down", 503)
    client = make_client(max_attempts=1)
    _fail_calls(client, 3)
    CircuitBreaker.objects.filter(provider="acme").update(
        window_started_at=timezone.now() - timedelta(seconds=61)
    )

    _fail_calls(client, 1)

    row = CircuitBreaker.objects.get(provider="acme")
    assert (row.state, row.successes, row.failures) == (CLOSED, 0, 1)


def test_half_open_trial_success_closes_and_resets_the_window(fake_provider, make_client):
    fake_provider.script("/v1/charges", 200)
    _open_breaker()
    client = make_client()
    with pytest.raises(CircuitOpen):
        client.request("create_charge", "POST", "/v1/charges", idempotency_key="pay:2")
    _cooldown_over()

    response = client.request("create_charge", "POST", "/v1/charges", idempotency_key="pay:2")

    assert response.status_code == 200
    row = CircuitBreaker.objects.get(provider="acme")
    assert (row.state, row.successes, row.failures, row.opened_at) == (CLOSED, 0, 0, None)
    assert len(fake_provider.seen) == 1


def test_half_open_trial_failure_reopens_without_retrying(fake_provider, make_client, sleeps):
    fake_provider.script("/v1/charges", 503, 200)
    _open_breaker()
    _cooldown_over()

    with pytest.raises(ProviderUnavailable) as caught:
        make_client(max_attempts=3).request(
            "create_charge", "POST", "/v1/charges", idempotency_key="pay:3"
        )

    assert not isinstance(caught.value, CircuitOpen)
    assert caught.value.retry_after == 30.0
    assert len(fake_provider.seen) == 1  # one trial, no retry
    assert sleeps == []
    row = CircuitBreaker.objects.get(provider="acme")
    assert row.state == OPEN
    assert row.opened_at is not None
    assert timezone.now() - row.opened_at < timedelta(seconds=5)  # a fresh cool-down


def test_only_one_trial_while_half_open():
    _open_breaker()
    _cooldown_over()

    first = breaker_permit("acme")
    second = breaker_permit("acme")

    assert (first.allowed, first.trial) == (True, True)
    assert (second.allowed, second.trial) == (False, False)
    assert breaker_state("acme") == HALF_OPEN


def test_a_stale_trial_can_be_claimed_again():
    _open_breaker()
    _cooldown_over()
    assert breaker_permit("acme").trial
    # The trial's worker died; after the lease (cool-down + timeouts) another may try.
    CircuitBreaker.objects.filter(provider="acme").update(
        updated_at=timezone.now() - timedelta(seconds=60)
    )

    assert breaker_permit("acme").trial


def test_reset_closes_the_breaker_and_a_late_trial_outcome_is_just_counted():
    _open_breaker()
    _cooldown_over()
    assert breaker_permit("acme").trial

    assert breaker_reset("acme") is True
    breaker_record("acme", failed=True, trial=True)

    row = CircuitBreaker.objects.get(provider="acme")
    assert (row.state, row.successes, row.failures, row.opened_at) == (CLOSED, 0, 1, None)
    assert breaker_reset("nobody") is False


def test_breaker_state_and_states():
    assert breaker_state("never-called") == CLOSED
    _open_breaker("zeta")
    breaker_record("alpha", failed=False)

    states = breaker_states()

    assert [(s["provider"], s["state"]) for s in states] == [("alpha", CLOSED), ("zeta", OPEN)]
    assert states[0]["successes"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_callers_get_exactly_one_trial(fake_provider, make_client):
    fake_provider.script("/v1/ping", Reply(200, delay=0.8))  # the trial stays in flight
    _open_breaker()
    _cooldown_over()
    callers = 4
    barrier = threading.Barrier(callers)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client = make_client()
            barrier.wait(timeout=5)
            try:
                client.request("ping", "GET", "/v1/ping")
                outcomes.append("sent")
            except CircuitOpen:
                outcomes.append("refused")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert sorted(outcomes) == ["refused"] * (callers - 1) + ["sent"]
    assert len(fake_provider.requests_to("/v1/ping")) == 1
    assert breaker_state("acme") == CLOSED
    assert ProviderCall.objects.filter(outcome="circuit_open").count() == callers - 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_all_counted():
    threads_n, per_thread = 4, 5
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            barrier.wait(timeout=5)
            for _ in range(per_thread):
                breaker_record("acme", failed=False)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert CircuitBreaker.objects.get(provider="acme").successes == threads_n * per_thread
