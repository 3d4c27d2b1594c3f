"""The receiver: verify the raw body, store once, answer with the right status code."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.test.client import FakePayload

from accounts.models import CustomerIdentifier
from integrations.models import DomainEvent, WebhookEvent, WebhookRejection
from integrations.webhooks.tasks import sweep
from tests.integrations.webhooks.support import (
    PREVIOUS_SECRET,
    PROVIDER,
    UNKNOWN_SECRET,
    URL,
    log_lines,
    sign_raw,
    signed,
)

pytestmark = pytest.mark.django_db


def _nothing_stored() -> bool:
    return not WebhookEvent.objects.exists()


# --- stored and processed -------------------------------------------------------------------


def test_signed_delivery_is_stored_then_processed_after_commit(handlers, deliver, customer):
    body, headers = signed(
        "customer.linked", {"id": "cus_1", "customer_pk": customer.pk}, msg_id="msg_stored_1"
    )
    response = deliver(body, headers)

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert response.json() == {"status": "stored", "id": event.pk}
    assert event.provider == PROVIDER
    assert event.event_id == "msg_stored_1"
    assert event.event_type == "customer.linked"
    assert event.object_id == "cus_1"
    assert event.occurred_at == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert event.body == body.decode()
    assert event.headers["webhook-id"] == "msg_stored_1"
    assert "webhook-signature" not in event.headers
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 1
    assert event.processed_at is not None
    assert event.next_attempt_at is None
    assert event.affected == [
        {"model": "accounts.customer", "pk": str(customer.pk), "label": str(customer)}
    ]
    assert CustomerIdentifier.objects.filter(customer=customer, external_id="cus_1").count() == 1
    assert handlers.calls == ["msg_stored_1"]


def test_credentials_and_cookies_are_never_stored(handlers, deliver, customer):
    body, headers = signed("customer.linked", {"id": "cus_2", "customer_pk": customer.pk})
    headers |= {"Authorization": "Bearer sk_live_secret", "Cookie": "sessionid=abc"}
    assert deliver(body, headers).status_code == 200
    stored = WebhookEvent.objects.get().headers
    assert {"authorization", "cookie", "webhook-signature"}.isdisjoint(stored)
    assert "sk_live_secret" not in json.dumps(stored)


def test_duplicate_delivery_answers_200_and_changes_nothing(handlers, deliver, customer):
    body, headers = signed(
        "customer.linked", {"id": "cus_3", "customer_pk": customer.pk}, msg_id="msg_dup"
    )
    first = deliver(body, headers)
    before = WebhookEvent.objects.values().get()

    second = deliver(body, headers)

    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "id": first.json()["id"]}
    assert WebhookEvent.objects.values().get() == before
    assert handlers.calls == ["msg_dup"]
    linked = DomainEvent.objects.filter(type="customer.identifier_linked", customer=customer)
    assert linked.count() == 1


def test_redelivery_with_a_new_signature_and_timestamp_is_still_a_duplicate(
    handlers, deliver, customer
):
    data = {"id": "cus_4", "customer_pk": customer.pk}
    now = datetime.now(tz=UTC)
    deliver(*signed("customer.linked", data, msg_id="msg_retry", at=now - timedelta(seconds=90)))
    response = deliver(*signed("customer.linked", data, msg_id="msg_retry", at=now))
    assert response.json()["status"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert handlers.calls == ["msg_retry"]


def test_broker_failure_still_answers_200_and_the_sweeper_processes_later(
    handlers, deliver, customer, broker_down, json_log
):
    body, headers = signed("customer.linked", {"id": "cus_5", "customer_pk": customer.pk})
    response = deliver(body, headers)

    assert response.status_code == 200
    assert response.json()["status"] == "stored"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED
    assert handlers.calls == []
    assert any(line["event"] == "webhook.enqueue_failed" for line in log_lines(json_log))

    assert sweep() == 1
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert CustomerIdentifier.objects.filter(external_id="cus_5").count() == 1


# --- refused: signature ---------------------------------------------------------------------


def test_forged_signature_is_401_recorded_and_logged_without_secrets(
    handlers, deliver, customer, json_log
):
    body, headers = signed(
        "customer.linked", {"id": "cus_6", "customer_pk": customer.pk}, secret=UNKNOWN_SECRET
    )
    headers |= {"Authorization": "Bearer sk_live_secret", "Cookie": "sessionid=abc"}
    response = deliver(body, headers, REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 401
    assert _nothing_stored()
    assert handlers.calls == []
    rejection = WebhookRejection.objects.get()
    assert rejection.provider == PROVIDER
    assert rejection.status_code == 401
    assert rejection.reason == "No matching signature found"
    assert rejection.remote_addr == "203.0.113.9"
    assert rejection.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rejection.body_size == len(body)
    assert rejection.headers["webhook-id"] == headers["webhook-id"]
    assert {"webhook-signature", "authorization", "cookie"}.isdisjoint(rejection.headers)
    logged = json_log.getvalue()
    assert "webhook.rejected" in logged
    for secret in (headers["webhook-signature"], "sk_live_secret", "sessionid", "cus_6"):
        assert secret not in logged


def test_signature_is_checked_before_the_body_is_parsed(handlers, deliver):
    body, headers = b"\xff\xfe not even text", sign_raw(b"something else")
    response = deliver(body, headers)
    assert response.status_code == 401  # not 400: nothing about an unsigned body is trusted
    assert _nothing_stored()
    assert WebhookRejection.objects.get().body_size == len(body)


@pytest.mark.parametrize("skew", [-310, 310], ids=["too-old", "too-new"])
def test_timestamp_more_than_five_minutes_off_is_401(handlers, deliver, customer, skew):
    at = datetime.now(tz=UTC) + timedelta(seconds=skew)
    body, headers = signed("customer.linked", {"id": "c", "customer_pk": customer.pk}, at=at)
    response = deliver(body, headers)
    assert response.status_code == 401
    assert _nothing_stored()
    assert "timestamp" in WebhookRejection.objects.get().reason


@pytest.mark.parametrize("skew", [-290, 290], ids=["old-but-fresh", "slightly-ahead"])
def test_timestamp_within_five_minutes_is_accepted(handlers, deliver, customer, skew):
    at = datetime.now(tz=UTC) + timedelta(seconds=skew)
    body, headers = signed("customer.linked", {"id": "c", "customer_pk": customer.pk}, at=at)
    assert deliver(body, headers).status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_previous_secret_stays_valid_during_rotation(handlers, deliver, customer):
    body, headers = signed(
        "customer.linked", {"id": "cus_7", "customer_pk": customer.pk}, secret=PREVIOUS_SECRET
    )
    response = deliver(body, headers)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_after_rotation_ends_the_previous_secret_is_refused(handlers, deliver, settings, customer):
    settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS = ""
    body, headers = signed(
        "customer.linked", {"id": "cus_8", "customer_pk": customer.pk}, secret=PREVIOUS_SECRET
    )
    assert deliver(body, headers).status_code == 401
    assert _nothing_stored()


@pytest.mark.parametrize(
    "missing",
    [("webhook-id",), ("webhook-timestamp",), ("webhook-signature",), ()],
    ids=["id", "timestamp", "signature", "all"],
)
def test_missing_signature_headers_are_401(handlers, deliver, customer, missing):
    body, headers = signed("customer.linked", {"id": "c", "customer_pk": customer.pk})
    kept = {k: v for k, v in headers.items() if missing and k not in missing}
    response = deliver(body, kept)
    assert response.status_code == 401
    assert _nothing_stored()
    assert WebhookRejection.objects.count() == 1


def test_no_configured_secret_refuses_everything(handlers, deliver, settings, customer):
    body, headers = signed("customer.linked", {"id": "c", "customer_pk": customer.pk})
    settings.SANDBOX_WEBHOOK_SECRET = ""
    settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS = ""
    assert deliver(body, headers).status_code == 401
    assert _nothing_stored()


# --- refused: malformed, too big, wrong route -----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b"[1, 2]", b'{"data": {}}', b'{"type": "x.y", "data": "nope"}'],
    ids=["not-json", "not-object", "no-type", "data-not-object"],
)
def test_signed_but_malformed_body_is_400_and_nothing_is_stored(handlers, deliver, body):
    response = deliver(body, sign_raw(body))
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"
    assert _nothing_stored()
    assert not WebhookRejection.objects.exists()


def test_event_id_longer_than_the_column_is_400(handlers, deliver, customer):
    body, headers = signed("customer.linked", {"customer_pk": customer.pk}, msg_id="m" * 201)
    assert deliver(body, headers).status_code == 400
    assert _nothing_stored()


def test_body_over_the_limit_with_honest_content_length_is_413(handlers, deliver, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body, headers = signed("customer.linked", {"id": "c", "pad": "x" * 2000})
    response = deliver(body, headers)
    assert response.status_code == 413
    assert _nothing_stored()
    assert not WebhookRejection.objects.exists()


def test_body_exactly_at_the_limit_is_accepted(handlers, deliver, settings):
    body, headers = signed("test.unhandled", {"id": "c"})
    pad = 1024 - len(body) - len(', "pad": ""')
    body, headers = signed("test.unhandled", {"id": "c", "pad": "x" * pad})
    settings.WEBHOOK_MAX_BODY_BYTES = len(body)
    assert len(body) == 1024
    assert deliver(body, headers).status_code == 200


def test_small_lying_content_length_under_wsgi_reads_only_the_declared_bytes(handlers, deliver):
    # Django's WSGI request never reads past Content-Length, so the surplus never reaches the
    # signature check or the database: the truncated body fails verification.
    body, headers = signed("customer.linked", {"id": "c", "pad": "x" * 5000})
    response = deliver(body, headers, CONTENT_LENGTH="10")
    assert response.status_code == 401
    assert _nothing_stored()
    assert WebhookRejection.objects.get().body_size == 10


def test_big_body_behind_small_content_length_under_asgi_is_413(handlers, settings):
    # An ASGI request hands the view the whole received body whatever the header says: the
    # receiver's own read cap refuses it.
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body, headers = signed("customer.linked", {"id": "c", "pad": "x" * 5000})
    scope = {
        "method": "POST",
        "path": URL,
        "server": ("127.0.0.1", "80"),
        "scheme": "http",
        "query_string": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"10"),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ],
        "_body_file": FakePayload(body),
    }
    response = async_to_sync(AsyncClient().request)(**scope)
    assert response.status_code == 413
    assert _nothing_stored()
    assert not WebhookRejection.objects.exists()


@pytest.mark.parametrize("value", ["abc", "-5"])
def test_invalid_content_length_is_400(handlers, deliver, value):
    body, headers = signed("customer.linked", {"id": "c"})
    assert deliver(body, headers, CONTENT_LENGTH=value).status_code == 400
    assert _nothing_stored()


def test_unknown_provider_is_404_json(handlers, deliver):
    body, headers = signed("customer.linked", {"id": "c"})
    response = deliver(body, headers, path="/webhooks/nobody/")
    assert response.status_code == 404
    assert response.json() == {"error": "unknown provider"}
    assert _nothing_stored()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_other_methods_are_405(handlers, client, method):
    response = getattr(client, method)(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert _nothing_stored()
