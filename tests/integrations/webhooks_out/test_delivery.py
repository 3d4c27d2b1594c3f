"""Outbound webhooks end to end against a local receiver: fan-out, signing, retries, disabling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.customers.services import customer_note_add
from integrations.models import DomainEvent, StaffAlert, WebhookAttempt, WebhookMessage
from integrations.webhooks_out.relay import (
    JITTER,
    RETRY_SCHEDULE,
    message_send,
    messages_send_due,
    retry_delay,
)
from integrations.webhooks_out.services import (
    endpoint_rotate_secret,
    message_resend,
    messages_fan_out,
    messages_recover,
    subscription_matches,
)
from integrations.webhooks_out.signing import sign
from tests.factories import make_staff

pytestmark = pytest.mark.django_db

Status = WebhookMessage.Status


def _due_now(message: WebhookMessage) -> None:
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())


def test_the_signature_matches_the_specs_test_vector() -> None:
    at = datetime.fromtimestamp(1614265330, tz=UTC)
    headers = sign(
        secrets=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        at=at,
        body='{"test": 2432232314}',
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_a_committed_event_reaches_the_endpoint_signed(receiver, make_endpoint, commit_note):
    endpoint = make_endpoint()
    event = commit_note("Wants a call back.")

    [message] = WebhookMessage.objects.filter(endpoint=endpoint)
    assert message.status == Status.SUCCEEDED
    assert list(receiver.taken) == [message.msg_id]
    taken = receiver.taken[message.msg_id]
    assert taken["body"]["type"] == "note.added"
    assert taken["body"]["data"]["event_id"] == event.pk
    assert taken["body"]["data"]["payload"] == {"excerpt": "Wants a call back."}
    assert taken["headers"]["webhook-timestamp"].isdigit()
    [attempt] = WebhookAttempt.objects.filter(message=message)
    assert (attempt.succeeded, attempt.status_code, attempt.response_excerpt) == (True, 200, "ok")
    assert attempt.duration_ms >= 0


def test_the_secret_is_stored_encrypted(make_endpoint, receiver):
    endpoint = make_endpoint()
    secret = receiver.secrets[-1]
    assert secret.startswith("whsec_")
    assert secret not in endpoint.secret_ciphertext
    assert secret.removeprefix("whsec_") not in endpoint.secret_ciphertext


def test_a_rolled_back_event_sends_nothing(
    receiver, make_endpoint, customer, django_capture_on_commit_callbacks
):
    make_endpoint()
    author = make_staff("w")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        customer_note_add(customer=customer, author=author, body="Never mind.")
        raise RuntimeError("rolled back")

    assert not DomainEvent.objects.filter(type="note.added").exists()
    assert not WebhookMessage.objects.exists()
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("patterns", "event_type", "matches"),
    [
        (["*"], "note.added", True),
        (["note.added"], "note.added", True),
        (["note.*"], "note.added", True),
        (["order.*"], "note.added", False),
        (["order.paid", "note.added"], "note.added", True),
        (["note.added"], "note.added_later", False),
        (["note"], "note.added", False),
        ([], "note.added", False),
    ],
)
def test_subscription_matching(patterns, event_type, matches):
    assert subscription_matches(patterns, event_type) is matches


def test_only_subscribed_endpoints_get_a_message(receiver, make_endpoint, commit_note):
    wanted = make_endpoint(event_types=["note.*"], path="/notes")
    make_endpoint(event_types=["order.paid"], path="/orders")
    commit_note()
    assert [m.endpoint_id for m in WebhookMessage.objects.all()] == [wanted.pk]
    assert [r["path"] for r in receiver.requests] == ["/notes"]


def test_one_message_per_endpoint_and_event_however_often_fanned_out(make_endpoint, commit_note):
    endpoint = make_endpoint()
    event = commit_note()
    with transaction.atomic():
        assert messages_fan_out(event=event) == 0
        assert messages_fan_out(event=event) == 0
    assert WebhookMessage.objects.filter(endpoint=endpoint, event=event).count() == 1


def test_the_retry_schedule_is_svixs():
    assert [d.total_seconds() for d in RETRY_SCHEDULE] == [
        0,
        5,
        300,
        1800,
        7200,
        18000,
        36000,
        36000,
    ]
    assert retry_delay(attempts=1, uniform=lambda a, b: 1.0) == timedelta(seconds=5)
    assert retry_delay(attempts=2, uniform=lambda a, b: a) == timedelta(minutes=5) * (1 - JITTER)
    assert retry_delay(attempts=7, uniform=lambda a, b: b) == timedelta(hours=10) * (1 + JITTER)
    assert retry_delay(attempts=8) is None


def test_a_failing_receiver_gets_each_next_attempt_on_schedule(
    receiver, make_endpoint, commit_note
):
    endpoint = make_endpoint()
    receiver.answer(*[500] * 8)
    commit_note()
    [message] = WebhookMessage.objects.filter(endpoint=endpoint)

    for attempt, delay in enumerate(RETRY_SCHEDULE[1:], start=1):
        message.refresh_from_db()
        assert (message.status, message.attempts, message.last_status_code) == (
            Status.FAILED,
            attempt,
            500,
        )
        assert message.next_attempt_at is not None
        waited = message.next_attempt_at - message.log.get(attempt=attempt).created_at
        assert delay * (1 - JITTER) <= waited <= delay * (1 + JITTER)
        assert messages_send_due() == 0  # not due yet: nothing is sent early
        _due_now(message)
        assert messages_send_due() == 1

    message.refresh_from_db()
    assert (message.status, message.attempts, message.next_attempt_at) == (Status.DEAD, 8, None)
    assert len(receiver.requests) == 8
    assert list(message.log.order_by("attempt").values_list("status_code", flat=True)) == [500] * 8


def test_a_retry_that_succeeds_ends_the_message(receiver, make_endpoint, commit_note):
    endpoint = make_endpoint()
    receiver.answer(503)
    commit_note()
    [message] = WebhookMessage.objects.filter(endpoint=endpoint)
    assert message.status == Status.FAILED
    endpoint.refresh_from_db()
    assert endpoint.first_failure_at is not None
    _due_now(message)
    message = message_send(message_id=message.pk)
    assert message.status == Status.SUCCEEDED
    endpoint.refresh_from_db()
    assert endpoint.first_failure_at is None and endpoint.last_success_at is not None
    assert [a.status_code for a in message.log.order_by("attempt")] == [503, 200]


def test_a_redirect_is_a_failure_and_is_not_followed(receiver, make_endpoint, commit_note):
    endpoint = make_endpoint()
    receiver.answer(302)
    commit_note()
    [message] = WebhookMessage.objects.filter(endpoint=endpoint)
    assert (message.status, message.last_status_code) == (Status.FAILED, 302)
    assert "not followed" in message.last_error
    assert receiver.redirected_hits == 0
    assert [r["path"] for r in receiver.requests] == ["/hooks"]


def test_after_a_rotation_both_secrets_sign_until_the_grace_period_ends(
    receiver, make_endpoint, commit_note, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint()
    old_secret = receiver.secrets[0]
    with django_capture_on_commit_callbacks(execute=True):
        endpoint, new_secret = endpoint_rotate_secret(endpoint=endpoint)
    assert new_secret != old_secret
    receiver.secrets[:] = [new_secret]  # a receiver that already switched verifies too
    commit_note()

    note = WebhookMessage.objects.get(endpoint=endpoint, event_type="note.added")
    headers = receiver.taken[note.msg_id]["headers"]
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    raw = json.dumps(receiver.taken[note.msg_id]["body"], separators=(",", ":"), sort_keys=True)
    for secret in (new_secret, old_secret):  # each verifies on its own
        Webhook(secret).verify(
            raw,
            {**headers, "webhook-signature": signatures[[new_secret, old_secret].index(secret)]},
        )
    # The rotation itself was announced (a wildcard endpoint gets it too).
    assert WebhookMessage.objects.filter(event_type="webhook_endpoint.secret_rotated").exists()

    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save(update_fields=["previous_secret_expires_at"])
    commit_note("Later.")
    later = WebhookMessage.objects.filter(event_type="note.added").latest("id")
    assert len(receiver.taken[later.msg_id]["headers"]["webhook-signature"].split(" ")) == 1


def test_an_endpoint_failing_for_five_days_is_disabled_with_an_event_and_an_alert(
    receiver, make_endpoint, commit_note, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(event_types=["note.added"])
    receiver.answer(500, 500)
    commit_note()
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.first_failure_at is not None
    message = WebhookMessage.objects.get(endpoint=endpoint)

    # Four days and 23 hours of failures: still active.
    endpoint.first_failure_at = timezone.now() - timedelta(days=5) + timedelta(hours=1)
    endpoint.save(update_fields=["first_failure_at"])
    _due_now(message)
    with django_capture_on_commit_callbacks(execute=True):
        messages_send_due()
    endpoint.refresh_from_db()
    assert endpoint.active

    # Five days without a success: disabled.
    receiver.answer(500)
    endpoint.first_failure_at = timezone.now() - timedelta(days=5, seconds=1)
    endpoint.save(update_fields=["first_failure_at"])
    _due_now(message)
    with django_capture_on_commit_callbacks(execute=True):
        messages_send_due()
    endpoint.refresh_from_db()
    assert not endpoint.active and "5 days" in endpoint.disabled_reason
    event = DomainEvent.objects.get(type="webhook_endpoint.disabled")
    assert event.data["endpoint_id"] == endpoint.pk
    alert = StaffAlert.objects.get(kind="endpoint_disabled")
    assert alert.object_key == f"endpoint:{endpoint.pk}" and alert.role == "ops"

    # Nothing more is sent to it; later events are not even queued for it.
    sent = len(receiver.requests)
    commit_note("After the disable.")
    assert WebhookMessage.objects.filter(endpoint=endpoint).count() == 1
    assert len(receiver.requests) == sent


def test_a_success_resets_the_failure_clock(receiver, make_endpoint, commit_note):
    endpoint = make_endpoint()
    receiver.answer(500)
    commit_note()
    endpoint.refresh_from_db()
    endpoint.first_failure_at = timezone.now() - timedelta(days=6)
    endpoint.save(update_fields=["first_failure_at"])
    commit_note("Succeeds.")
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.first_failure_at is None


def test_resend_sends_the_same_webhook_id_again(
    receiver, make_endpoint, commit_note, django_capture_on_commit_callbacks
):
    make_endpoint()
    commit_note()
    message = WebhookMessage.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        message = message_resend(message=message, actor=make_staff("ops-1"))
    message.refresh_from_db()
    assert message.status == Status.SUCCEEDED
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [message.msg_id] * 2
    assert receiver.duplicates == 1
    assert message.log.count() == 2


def test_recover_since_requeues_only_failed_messages_since_then(
    receiver, make_endpoint, commit_note, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint()
    receiver.answer(500, 500, 500)
    commit_note("one")
    commit_note("two")
    commit_note("three")
    old, middle, recent = WebhookMessage.objects.order_by("id")
    assert {m.status for m in (old, middle, recent)} == {Status.FAILED}
    WebhookMessage.objects.filter(pk=old.pk).update(
        status=Status.DEAD, created_at=timezone.now() - timedelta(days=2)
    )
    WebhookMessage.objects.filter(pk=middle.pk).update(status=Status.DEAD)
    commit_note("four")  # succeeds: never recovered
    since = timezone.now() - timedelta(days=1)

    with django_capture_on_commit_callbacks(execute=True):
        count = messages_recover(endpoint=endpoint, since=since)

    assert count == 2
    statuses = dict(WebhookMessage.objects.values_list("pk", "status"))
    assert statuses[old.pk] == Status.DEAD
    assert statuses[middle.pk] == statuses[recent.pk] == Status.SUCCEEDED
    assert WebhookMessage.objects.filter(status=Status.SUCCEEDED).count() == 3


def test_a_stale_claim_is_sent_again_with_the_same_id(
    receiver, make_endpoint, commit_note, settings
):
    make_endpoint()
    receiver.answer(500)
    commit_note()
    message = WebhookMessage.objects.get()
    # A worker claimed it and died before recording the outcome:
    WebhookMessage.objects.filter(pk=message.pk).update(
        status=Status.SENDING,
        claimed_at=timezone.now()
        - timedelta(seconds=settings.WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS + 1),
    )
    assert messages_send_due() == 1
    message.refresh_from_db()
    assert message.status == Status.SUCCEEDED
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {message.msg_id}


def test_rotate_credentials_reencrypts_endpoint_secrets_too(settings, make_endpoint, receiver):
    from cryptography.fernet import Fernet

    from integrations.credentials import credentials_rotate
    from integrations.webhooks_out.signing import signing_secrets

    endpoint = make_endpoint()
    before = endpoint.secret_ciphertext
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_KEYS = [new_key, *settings.CREDENTIALS_KEYS]
    assert credentials_rotate() == 1
    endpoint.refresh_from_db()
    assert endpoint.secret_ciphertext != before
    settings.CREDENTIALS_KEYS = [new_key]  # the old key can go
    assert signing_secrets(endpoint) == [receiver.secrets[0]]


def test_an_event_nobody_subscribes_to_writes_no_outbound_delivery(
    receiver, make_endpoint, commit_note
):
    """Without a subscribed endpoint the fan-out subscriber is not even given the event (no
    Delivery row, no task): a usage batch or a business without endpoints pays nothing. Saving
    an endpoint makes its subscription count at once in this process."""
    from integrations.models import Delivery

    make_endpoint(event_types=["order.paid"], path="/orders")
    event = commit_note()
    assert not Delivery.objects.filter(event=event, subscriber="integrations.webhooks_out").exists()
    make_endpoint(event_types=["note.added"], path="/notes")
    event = commit_note("Second call.")
    assert Delivery.objects.filter(event=event, subscriber="integrations.webhooks_out").count() == 1
    assert [r["path"] for r in receiver.requests] == ["/notes"]
