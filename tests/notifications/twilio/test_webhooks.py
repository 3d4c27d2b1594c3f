"""Issue 13 item 3: Twilio's status callbacks at /webhooks/twilio/, verified with
X-Twilio-Signature over every posted parameter and the configured URL (with and without its
port); forged 401 with nothing changed, malformed 400; statuses in any order end the same;
redeliveries deduped by MessageSid + MessageStatus."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from accounts.models import Customer
from integrations.models import DomainEvent, WebhookEvent, WebhookRejection
from integrations.webhooks.processing import webhook_event_process
from integrations.webhooks.registry import SignatureRejected
from notifications.channels.twilio.webhooks import endpoint
from notifications.models import Notification, NotificationStatus
from notifications.services import notification_mark_sent, notification_queue
from tests.notifications.twilio.conftest import CALLBACK_URL
from tests.support.fake_twilio import AUTH_TOKEN, FakeTwilio, twilio_signature

pytestmark = pytest.mark.django_db
N = NotificationStatus
PHONE = "+5511987654321"
SID = "SM" + "0a1b2c3d" * 4

# The official vector (twilio-python tests/unit/test_request_validator.py; CONTRACTS §7).
VECTOR_TOKEN = "12345"
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def sent_sms(customer: Customer, sid: str = SID, channel: str = "sms") -> Notification:
    notification = notification_queue(
        customer=customer, channel=channel, template="order_paid", body="Paid!"
    )
    return notification_mark_sent(
        notification=notification, provider="twilio", provider_message_id=sid
    )


def status(sid: str, value: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0123456789abcdef" * 2,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": value,
        "SmsSid": sid,
        "SmsStatus": value,
        "To": PHONE,
        **extra,
    }


def test_the_fake_signs_the_official_vector() -> None:
    assert twilio_signature(VECTOR_TOKEN, VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE


@pytest.mark.parametrize(
    "configured",
    [VECTOR_URL, "https://mycompany.com:443/myapp.php?foo=1&bar=2"],
    ids=["without port", "with explicit port"],
)
def test_the_official_vector_verifies(settings: Any, configured: str) -> None:
    settings.TWILIO_AUTH_TOKEN = VECTOR_TOKEN
    settings.TWILIO_STATUS_CALLBACK_URL = configured

    endpoint.verify(
        headers={"X-Twilio-Signature": VECTOR_SIGNATURE}, body=urlencode(VECTOR_PARAMS).encode()
    )

    with pytest.raises(SignatureRejected):
        endpoint.verify(
            headers={"X-Twilio-Signature": VECTOR_SIGNATURE},
            body=urlencode({**VECTOR_PARAMS, "Digits": "1235"}).encode(),
        )


def test_the_vector_posted_is_authentic_but_not_a_message(settings: Any, post_twilio: Any) -> None:
    """Signed right (not 401), but a call's parameters are no status callback: 400."""
    settings.TWILIO_AUTH_TOKEN = VECTOR_TOKEN
    settings.TWILIO_STATUS_CALLBACK_URL = VECTOR_URL

    response = post_twilio(VECTOR_PARAMS, signature=VECTOR_SIGNATURE)

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_a_delivered_callback_marks_the_notification_delivered(
    customer: Customer, post_twilio: Any
) -> None:
    notification = sent_sms(customer)

    response = post_twilio(status(SID, "delivered"))

    assert response.status_code == 200
    notification.refresh_from_db()
    assert notification.status == N.DELIVERED
    assert DomainEvent.objects.filter(type="notification.delivered").count() == 1


@pytest.mark.parametrize(
    "tamper",
    [
        {"signature": "forged"},
        {"signature": ""},
        {"signature": twilio_signature("0" * 32, CALLBACK_URL, status(SID, "delivered"))},
        {
            "signature": twilio_signature(
                AUTH_TOKEN, "https://evil.example/webhooks/twilio/", status(SID, "delivered")
            )
        },
        {"params": {**status(SID, "delivered"), "Extra": "added after signing"}},
    ],
    ids=["garbage", "missing", "other token", "other url", "param added"],
)
def test_forged_callbacks_are_refused_and_change_nothing(
    customer: Customer, post_twilio: Any, tamper: dict[str, Any]
) -> None:
    notification = sent_sms(customer)
    signed = status(SID, "delivered")
    signature = tamper.get("signature", twilio_signature(AUTH_TOKEN, CALLBACK_URL, signed))

    response = post_twilio(tamper.get("params", signed), signature=signature)

    assert response.status_code == 401
    notification.refresh_from_db()
    assert notification.status == N.SENT
    assert WebhookEvent.objects.count() == 0
    assert WebhookRejection.objects.filter(provider="twilio").count() == 1


@pytest.mark.parametrize(
    "params",
    [
        {"MessageStatus": "delivered"},
        {"MessageSid": "SM/../x", "MessageStatus": "delivered"},
        {"AccountSid": "AC1", "To": PHONE},
        {"MessageSid": SID, "Body": "STOP", "From": "not a phone"},
    ],
    ids=["no sid", "bad sid", "neither", "inbound from no phone"],
)
def test_malformed_signed_bodies_are_400(post_twilio: Any, params: dict[str, str]) -> None:
    response = post_twilio(params)

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_a_body_that_is_not_form_encoded_is_refused(post_twilio: Any) -> None:
    response = post_twilio({}, raw=b"\xff\xfe not utf-8 & = &&", signature="x")

    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_a_redelivered_status_is_one_event(customer: Customer, post_twilio: Any) -> None:
    sent_sms(customer)

    first = post_twilio(status(SID, "delivered"))
    again = post_twilio(status(SID, "delivered"))

    assert first.json()["status"] == "stored" and again.json()["status"] == "duplicate"
    assert WebhookEvent.objects.count() == 1
    assert DomainEvent.objects.filter(type="notification.delivered").count() == 1


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["sent", "delivered", "read"])), ids=str
)
def test_statuses_in_any_order_end_read(
    customer: Customer, post_twilio: Any, order: tuple[str, ...]
) -> None:
    notification = sent_sms(customer, channel="whatsapp")

    for value in order:
        assert post_twilio(status(SID, value, To=f"whatsapp:{PHONE}")).status_code == 200

    notification.refresh_from_db()
    assert notification.status == N.READ
    assert notification.read_at is not None and notification.delivered_at is not None


@pytest.mark.parametrize("value", ["undelivered", "failed"])
def test_undelivered_and_failed_fail_with_the_error_code(
    customer: Customer, post_twilio: Any, value: str
) -> None:
    notification = sent_sms(customer)

    post_twilio(status(SID, value, ErrorCode="30003"))

    notification.refresh_from_db()
    assert notification.status == N.FAILED
    assert notification.error == f"Twilio {value} (error 30003)"


def test_a_failure_after_delivery_is_dropped(customer: Customer, post_twilio: Any) -> None:
    notification = sent_sms(customer)

    post_twilio(status(SID, "delivered"))
    post_twilio(status(SID, "undelivered", ErrorCode="30005"))

    notification.refresh_from_db()
    assert notification.status == N.DELIVERED


@pytest.mark.parametrize("value", ["queued", "sending", "sent", "accepted", "canceled", "new"])
def test_other_statuses_are_stored_as_ignored(
    customer: Customer, post_twilio: Any, value: str
) -> None:
    notification = sent_sms(customer)

    assert post_twilio(status(SID, value)).status_code == 200

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED
    notification.refresh_from_db()
    assert notification.status == N.SENT


def test_a_status_for_an_unknown_message_changes_nothing(
    customer: Customer, post_twilio: Any
) -> None:
    notification = sent_sms(customer)

    post_twilio(status("SM" + "f" * 32, "delivered", To="+5521999990000"))

    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    notification.refresh_from_db()
    assert notification.status == N.SENT


def test_a_status_before_the_sid_is_recorded_is_retried(
    customer: Customer, post_twilio: Any
) -> None:
    """Twilio may call back before our send recorded the SID: while a notification to that
    number is still queued, the event waits for a retry instead of being dropped."""
    queued = notification_queue(customer=customer, channel="sms", template="t", body="Paid!")

    post_twilio(status(SID, "delivered"))

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    notification_mark_sent(notification=queued, provider="twilio", provider_message_id=SID)
    WebhookEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())  # it is due

    webhook_event_process(event_id=event.pk)
    queued.refresh_from_db()
    assert queued.status == N.DELIVERED


@pytest.mark.django_db(transaction=True)
def test_callbacks_from_the_fake_after_a_real_send(
    live_server: Any, settings: Any, customer: Customer, fake_twilio: FakeTwilio
) -> None:
    """The whole loop: the fake creates the message, then posts its signed callback to the
    status callback URL the message was created with."""
    from notifications.workflows import notification_deliver

    settings.TWILIO_STATUS_CALLBACK_URL = f"{live_server.url}/webhooks/twilio/"
    notification = notification_deliver(
        notification=notification_queue(
            customer=customer, channel="sms", template="order_paid", body="Paid!"
        )
    )
    (message,) = fake_twilio.messages
    assert message["status_callback"] == settings.TWILIO_STATUS_CALLBACK_URL

    response = fake_twilio.post_signed(
        message["status_callback"], fake_twilio.status_params(message["sid"], "delivered")
    )

    assert response.status_code == 200
    notification.refresh_from_db()
    assert notification.status == N.DELIVERED
