"""ProviderClient against a real HTTP server on 127.0.0.1: retries, rejections, timeouts, the
idempotency key on every attempt, the ProviderCall ledger and what never reaches it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import CircuitBreaker, ProviderCall
from integrations.outbound.client import backoff_delay, parse_retry_after, redact_url
from tests.integrations.outbound.conftest import Reply

pytestmark = pytest.mark.django_db


def _calls() -> list[ProviderCall]:
    return list(ProviderCall.objects.order_by("id"))


# --- retries ------------------------------------------------------------------------------------


def test_5xx_then_success_retries_with_the_same_key_and_leaves_a_row_per_attempt(
    fake_provider, make_client, sleeps
):
    fake_provider.script("/v1/charges", 503, 502, Reply(201, body=b'{"id": "ch_1"}'))

    response = make_client().request(
        "create_charge", "POST", "/v1/charges", json={"amount": 1000}, idempotency_key="pay:7"
    )

    assert response.status_code == 201
    assert response.json() == {"id": "ch_1"}
    seen = fake_provider.requests_to("/v1/charges")
    assert [s.headers["idempotency-key"] for s in seen] == ["pay:7", "pay:7", "pay:7"]
    assert {s.body for s in seen} == {b'{"amount": 1000}'}
    calls = _calls()
    assert [(c.attempt, c.status_code, c.outcome) for c in calls] == [
        (1, 503, "http_error"),
        (2, 502, "http_error"),
        (3, 201, "success"),
    ]
    assert {c.idempotency_key for c in calls} == {"pay:7"}
    assert {(c.provider, c.operation, c.method) for c in calls} == {
        ("acme", "create_charge", "POST")
    }
    assert calls[0].error == "HTTP 503 Service Unavailable"
    assert calls[2].error == ""
    assert all(c.duration_ms >= 0 for c in calls)
    assert len(sleeps) == 2


def test_waits_grow_exponentially_with_full_jitter(fake_provider, make_client, sleeps, settings):
    settings.OUTBOUND_MAX_ATTEMPTS = 4
    settings.OUTBOUND_BACKOFF_BASE_SECONDS = 0.5
    settings.OUTBOUND_BACKOFF_MAX_SECONDS = 1.5
    fake_provider.script("/v1/ping", 500)

    with pytest.raises(ProviderUnavailable):
        make_client().request("ping", "GET", "/v1/ping")

    assert len(sleeps) == 3
    for slept, ceiling in zip(sleeps, [0.5, 1.0, 1.5], strict=True):
        assert 0 <= slept <= ceiling
    assert backoff_delay(3, base=0.5, cap=1.5, uniform=lambda low, high: high) == 1.5
    assert backoff_delay(2, base=0.5, cap=10, uniform=lambda low, high: high) == 1.0
    assert backoff_delay(2, base=0.5, cap=10, uniform=lambda low, high: low) == 0.0


def test_a_4xx_is_not_retried(fake_provider, make_client, sleeps):
    fake_provider.script("/v1/charges", Reply(402, body=b'{"error": {"code": "card_declined"}}'))

    with pytest.raises(ProviderRejected) as caught:
        make_client().request("create_charge", "POST", "/v1/charges", idempotency_key="pay:8")

    assert caught.value.status_code == 402
    assert caught.value.detail == "acme create_charge: HTTP 402 Payment Required"
    assert caught.value.response is not None
    assert caught.value.response.json()["error"]["code"] == "card_declined"
    assert len(fake_provider.requests_to("/v1/charges")) == 1
    assert [(c.attempt, c.status_code, c.outcome) for c in _calls()] == [(1, 402, "http_error")]
    assert sleeps == []
    restored = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 (our own object)
    assert (restored.status_code, restored.response) == (402, None)


def test_429_waits_exactly_retry_after_seconds(fake_provider, make_client, sleeps):
    fake_provider.script("/v1/labels", Reply(429, headers={"Retry-After": "2"}), 200)

    response = make_client().request("buy_label", "POST", "/v1/labels", idempotency_key="ship:1")

    assert response.status_code == 200
    assert sleeps == [2.0]
    assert [(c.attempt, c.status_code) for c in _calls()] == [(1, 429), (2, 200)]


def test_429_retry_after_as_http_date(fake_provider, make_client, sleeps):
    when = datetime.now(UTC) + timedelta(seconds=3)
    fake_provider.script(
        "/v1/labels", Reply(429, headers={"Retry-After": format_datetime(when, usegmt=True)}), 200
    )

    make_client().request("buy_label", "POST", "/v1/labels", idempotency_key="ship:2")

    assert len(sleeps) == 1
    assert 1.0 <= sleeps[0] <= 3.0


def test_retry_after_longer_than_the_max_ends_the_call_with_retry_after(
    fake_provider, make_client, sleeps, settings
):
    settings.OUTBOUND_BACKOFF_MAX_SECONDS = 5.0
    fake_provider.script("/v1/labels", Reply(429, headers={"Retry-After": "120"}), 200)

    with pytest.raises(ProviderUnavailable) as caught:
        make_client().request("buy_label", "POST", "/v1/labels", idempotency_key="ship:3")

    assert caught.value.retry_after == 120.0
    assert caught.value.status_code == 429
    assert sleeps == []
    assert len(fake_provider.requests_to("/v1/labels")) == 1


def test_parse_retry_after_forms():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-3", now=now) == 0.0
    for unreadable in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(unreadable, now=now) is None


def test_exhausted_retries_raise_provider_unavailable(fake_provider, make_client, sleeps):
    fake_provider.script("/v1/ping", Reply(503, headers={"Retry-After": "1"}))

    with pytest.raises(ProviderUnavailable) as caught:
        make_client().request("ping", "GET", "/v1/ping")

    assert caught.value.status_code == 503
    assert caught.value.retry_after == 1.0
    assert "after 3 attempts" in str(caught.value)
    assert [c.attempt for c in _calls()] == [1, 2, 3]
    assert sleeps == [1.0, 1.0]


def test_read_timeouts_are_retried_then_unavailable(fake_provider, make_client, settings):
    settings.OUTBOUND_READ_TIMEOUT_SECONDS = 0.2
    fake_provider.script("/v1/slow", Reply(200, delay=0.6))

    with pytest.raises(ProviderUnavailable) as caught:
        make_client().request("slow", "GET", "/v1/slow", idempotency_key="slow:1")

    assert len(fake_provider.requests_to("/v1/slow")) == 3
    calls = _calls()
    assert [(c.attempt, c.outcome, c.status_code) for c in calls] == [
        (1, "timeout", None),
        (2, "timeout", None),
        (3, "timeout", None),
    ]
    assert all(150 <= c.duration_ms < 600 for c in calls)
    assert all("Read timed out" in c.error for c in calls)
    assert caught.value.status_code is None


def test_timeout_then_success(fake_provider, make_client, settings):
    settings.OUTBOUND_READ_TIMEOUT_SECONDS = 0.2
    fake_provider.script("/v1/refunds", Reply(200, delay=0.6), 200)

    response = make_client().request("refund", "POST", "/v1/refunds", idempotency_key="refund:3")

    assert response.status_code == 200
    keys = [s.headers["idempotency-key"] for s in fake_provider.requests_to("/v1/refunds")]
    assert keys == ["refund:3", "refund:3"]
    assert [(c.attempt, c.outcome) for c in _calls()] == [(1, "timeout"), (2, "success")]


def test_connection_refused_is_retried_then_unavailable(make_client, closed_port_url, sleeps):
    with pytest.raises(ProviderUnavailable) as caught:
        make_client(base_url=closed_port_url).request(
            "create_charge", "POST", "/v1/charges", idempotency_key=None
        )

    calls = _calls()
    # Never connected, so even a keyless POST is safe to repeat.
    assert [(c.attempt, c.outcome) for c in calls] == [
        (1, "connection_error"),
        (2, "connection_error"),
        (3, "connection_error"),
    ]
    assert "Connection refused" in calls[0].error
    assert "object at 0x" not in calls[0].error
    assert len(sleeps) == 2
    assert caught.value.retry_after is None


# --- mutating calls without an idempotency key -------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_mutating_call_without_key_is_not_retried_after_a_5xx(
    fake_provider, make_client, sleeps, method
):
    fake_provider.script("/v1/messages", 500, 200)

    with pytest.raises(ProviderUnavailable) as caught:
        make_client().request("send_message", method, "/v1/messages")

    assert "without an idempotency key may have been applied" in str(caught.value)
    assert len(fake_provider.requests_to("/v1/messages")) == 1
    assert [(c.attempt, c.status_code) for c in _calls()] == [(1, 500)]
    assert sleeps == []


def test_mutating_call_without_key_is_not_retried_after_a_read_timeout(
    fake_provider, make_client, settings
):
    settings.OUTBOUND_READ_TIMEOUT_SECONDS = 0.2
    fake_provider.script("/v1/messages", Reply(200, delay=0.6), 200)

    with pytest.raises(ProviderUnavailable):
        make_client().request("send_message", "POST", "/v1/messages", json={"to": "x"})

    assert len(fake_provider.requests_to("/v1/messages")) == 1
    assert [c.outcome for c in _calls()] == ["timeout"]


def test_mutating_call_without_key_is_retried_after_429(fake_provider, make_client):
    fake_provider.script("/v1/messages", Reply(429, headers={"Retry-After": "0"}), 200)

    response = make_client().request("send_message", "POST", "/v1/messages")

    assert response.status_code == 200
    assert len(fake_provider.requests_to("/v1/messages")) == 2


def test_get_without_key_is_retried_after_a_5xx(fake_provider, make_client):
    fake_provider.script("/v1/status", 500, 200)

    assert make_client().request("status", "GET", "/v1/status").status_code == 200
    assert len(fake_provider.requests_to("/v1/status")) == 2
    assert "idempotency-key" not in fake_provider.requests_to("/v1/status")[0].headers


# --- the ledger: what it holds and what it never holds ------------------------------------------


def test_secrets_never_reach_a_row(fake_provider, make_client):
    fake_provider.script("/v1/cards", 500, 400)
    client = make_client(default_headers={"X-Api-Key": "key_live_abcdef123456"})

    with pytest.raises(ProviderRejected) as caught:
        client.request(
            "tokenize",
            "POST",
            "/v1/cards",
            params={"access_token": "abc", "client_secret": "cs_9f8e7d6c", "limit": "10"},
            headers={"Authorization": "Bearer sk_test_xxx"},
            json={"number": "4242424242424242", "cvc": "123"},
            idempotency_key="card:1",
        )

    seen = fake_provider.requests_to("/v1/cards")[0]
    assert seen.headers["authorization"] == "Bearer sk_test_xxx"  # it was sent...
    assert "access_token=abc" in seen.path
    calls = _calls()
    assert len(calls) == 2
    stored = " ".join(
        str(value)
        for call in calls
        for value in ProviderCall.objects.filter(pk=call.pk).values().get().values()
    )
    for secret in ("sk_test_xxx", "abc", "cs_9f8e7d6c", "key_live_abcdef123456", "4242", "cvc"):
        assert secret not in stored  # ...but never stored
    assert calls[0].url.endswith(
        "/v1/cards?access_token=[redacted]&client_secret=[redacted]&limit=10"
    )
    assert "sk_test_xxx" not in str(caught.value)


def test_secrets_are_scrubbed_from_connection_errors(make_client, closed_port_url):
    client = make_client(
        base_url=closed_port_url, secret_values=["bot123456:AAE-secret-token"], max_attempts=1
    )

    with pytest.raises(ProviderUnavailable) as caught:
        client.request(
            "send",
            "GET",
            "/bot123456:AAE-secret-token/sendMessage",
            params={"token": "tok_abcdef"},
        )

    call = ProviderCall.objects.get()
    for text in (call.url, call.error, str(caught.value)):
        assert "AAE-secret-token" not in text
        assert "tok_abcdef" not in text
    assert call.url.endswith("/[redacted]/sendMessage?token=[redacted]")


def test_redact_url_drops_user_info_and_fragment():
    assert (
        redact_url("https://user:pw@api.example.test:8443/v1/x?signature=s1&page=2#frag")
        == "https://api.example.test:8443/v1/x?signature=[redacted]&page=2"
    )


def test_rows_link_the_subject(fake_provider, make_client, customer):
    fake_provider.script("/v1/contacts", 200)

    make_client().request(
        "upsert_contact", "PUT", "/v1/contacts", subject=customer, idempotency_key="c"
    )

    call = ProviderCall.objects.get()
    assert call.subject_type == ContentType.objects.get_for_model(customer)
    assert call.subject_id == str(customer.pk)


def test_redirects_are_returned_not_followed(fake_provider, make_client):
    fake_provider.script("/v1/old", Reply(302, headers={"Location": "/v1/new"}))
    fake_provider.script("/v1/new", 200)

    response = make_client().request("fetch", "GET", "/v1/old", headers={"Authorization": "x"})

    assert response.status_code == 302
    assert fake_provider.requests_to("/v1/new") == []


# --- transactions -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rows_are_committed_when_the_call_is_made_outside_a_transaction(fake_provider, make_client):
    fake_provider.script("/v1/charges", 500, 200)

    make_client().request("create_charge", "POST", "/v1/charges", idempotency_key="pay:9")

    assert transaction.get_autocommit()
    assert [c.attempt for c in _calls()] == [1, 2]
    assert CircuitBreaker.objects.get(provider="acme").successes == 1


def test_a_call_inside_a_transaction_is_refused_before_sending(fake_provider, make_client):
    fake_provider.script("/v1/charges", 200)

    with pytest.raises(RuntimeError, match="outside any transaction"), transaction.atomic():
        make_client().request("create_charge", "POST", "/v1/charges", idempotency_key="pay:10")

    assert fake_provider.seen == []
    assert ProviderCall.objects.count() == 0


def test_bad_arguments_are_refused_before_sending(fake_provider, make_client):
    client = make_client()
    with pytest.raises(ValueError, match="idempotency key"):
        client.request("op", "POST", "/v1/x", idempotency_key="k" * 201)
    with pytest.raises(ValueError, match="operation name"):
        client.request("o" * 61, "GET", "/v1/x")
    with pytest.raises(ValueError, match="provider"):
        make_client(provider="p" * 41)
    assert fake_provider.seen == []
