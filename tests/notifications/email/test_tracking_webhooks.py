"""Resend's tracking webhooks at /webhooks/email/resend/, verified by anymail's Svix check and
stored in our inbox: delivered/opened move the notification, a hard bounce or a complaint puts
the address on the suppression list (and the next e-mail to it is refused before any call),
forged or stale posts are 401 with nothing processed, statuses end the same in any order."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import pytest

from integrations.models import DomainEvent, WebhookEvent, WebhookRejection
from notifications.channels.base import OutboundMessage
from notifications.channels.email.adapter import EmailChannel
from notifications.models import EmailSuppression, Notification, NotificationStatus
from notifications.workflows import notification_send_for_event
from tests.factories import make_customer, make_order
from tests.support.fake_resend import SIGNING_SECRET, FakeResend, signed, tracking_event

pytestmark = pytest.mark.django_db
N = NotificationStatus


@pytest.fixture
def post(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    def post(
        event: dict[str, Any] | bytes, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        if isinstance(event, bytes):
            body, signed_headers = event, headers or {}
        else:
            body, signed_headers = signed(event, **kw)
            signed_headers.update(headers or {})
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/email/resend/",
                data=body,
                content_type="application/json",
                headers=signed_headers,
            )

    return post


def _sent(fake_resend: FakeResend) -> Notification:
    customer = make_customer(email="ana@example.test", phone="", name="Ana Souza")
    order = make_order(customer=customer, paid=True)
    event = DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))
    notification_send_for_event(event=event)
    notification = Notification.objects.get(customer=customer, channel="email")
    assert notification.status == N.SENT
    return notification


def test_delivered_then_opened(fake_resend: FakeResend, post: Any) -> None:
    notification = _sent(fake_resend)
    email_id = notification.provider_message_id

    assert post(tracking_event("delivered", email_id, notification.recipient)).status_code == 200
    assert post(tracking_event("opened", email_id, notification.recipient)).status_code == 200

    notification.refresh_from_db()
    assert notification.status == N.READ and notification.delivered_at is not None
    assert set(WebhookEvent.objects.values_list("provider", "status")) == {
        ("email-resend", "processed")
    }
    stored = WebhookEvent.objects.first()
    assert stored is not None and "svix-signature" not in {k.lower() for k in stored.headers}


@pytest.mark.parametrize("order", list(itertools.permutations(["delivered", "opened", "opened"])))
def test_statuses_in_any_order_and_duplicated_end_read(
    fake_resend: FakeResend, post: Any, order: tuple[str, ...]
) -> None:
    notification = _sent(fake_resend)
    events = {
        kind: tracking_event(kind, notification.provider_message_id, notification.recipient)
        for kind in ("delivered", "opened")
    }
    ids = {"delivered": "msg_delivered", "opened": "msg_opened"}
    for kind in order:
        assert post(events[kind], msg_id=ids[kind]).status_code == 200

    notification.refresh_from_db()
    assert notification.status == N.READ
    assert WebhookEvent.objects.count() == 2  # the duplicate delivery is stored once


def test_a_hard_bounce_fails_the_message_suppresses_the_address_and_the_next_email_is_refused(
    fake_resend: FakeResend, post: Any
) -> None:
    notification = _sent(fake_resend)
    bounce = {"type": "Permanent", "subType": "General", "message": "hard bounce message"}

    post(
        tracking_event(
            "bounced", notification.provider_message_id, "Ana@Example.test", bounce=bounce
        )
    )

    notification.refresh_from_db()
    assert notification.status == N.FAILED and "bounced" in notification.error
    suppression = EmailSuppression.objects.get()
    assert (suppression.address, suppression.reason, suppression.active) == (
        "ana@example.test",
        "bounced",
        True,
    )
    assert DomainEvent.objects.filter(
        type="notification.email_suppressed", customer=notification.customer
    ).exists()
    # The next message to that address is refused before any call, with its reason.
    order = make_order(customer=notification.customer, paid=True)
    notification_send_for_event(
        event=DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))
    )
    later = Notification.objects.filter(customer=notification.customer).latest("id")
    assert later.pk != notification.pk and later.status == N.FAILED
    assert "suppression list" in later.error
    assert len(fake_resend.sent) == 1


def test_a_suppressed_address_gets_no_email_and_the_reason_is_recorded(
    fake_resend: FakeResend,
) -> None:
    customer = make_customer(email="gone@example.test", phone="", name="Gone")
    EmailSuppression.objects.create(address="gone@example.test", reason="complained")
    order = make_order(customer=customer, paid=True)
    event = DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))

    notification_send_for_event(event=event)

    assert fake_resend.sent == []
    notification = Notification.objects.get(customer=customer, channel="email")
    assert notification.status == N.FAILED
    assert "suppression list" in notification.error
    assert DomainEvent.objects.filter(type="notification.failed", customer=customer).exists()


def test_a_temporary_bounce_changes_nothing(fake_resend: FakeResend, post: Any) -> None:
    notification = _sent(fake_resend)
    bounce = {"type": "Temporary", "subType": "MailboxFull", "message": "bounce message: full"}

    post(
        tracking_event(
            "bounced", notification.provider_message_id, notification.recipient, bounce=bounce
        )
    )

    notification.refresh_from_db()
    assert notification.status == N.SENT
    assert not EmailSuppression.objects.exists()


def test_a_complaint_suppresses_and_keeps_the_delivered_status(
    fake_resend: FakeResend, post: Any
) -> None:
    notification = _sent(fake_resend)
    post(tracking_event("delivered", notification.provider_message_id, notification.recipient))
    post(tracking_event("complained", notification.provider_message_id, notification.recipient))

    notification.refresh_from_db()
    assert notification.status == N.DELIVERED
    assert EmailSuppression.objects.get().reason == "complained"


@pytest.mark.parametrize(
    "forge",
    [
        {"secret": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="},  # another key
        {"timestamp": int(time.time()) - 3600},  # stale: an hour old
        {"timestamp": int(time.time()) + 3600},  # from the future
    ],
)
def test_forged_or_stale_posts_are_401_and_nothing_is_processed(
    fake_resend: FakeResend, post: Any, forge: dict[str, Any]
) -> None:
    notification = _sent(fake_resend)

    response = post(
        tracking_event("delivered", notification.provider_message_id, notification.recipient),
        **forge,
    )

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.filter(provider="email-resend").exists()
    notification.refresh_from_db()
    assert notification.status == N.SENT


def test_an_unsigned_post_is_401(fake_resend: FakeResend, post: Any) -> None:
    assert post(b'{"type": "email.delivered", "data": {}}').status_code == 401


def test_without_a_signing_secret_every_post_is_refused(
    fake_resend: FakeResend, post: Any, settings: Any
) -> None:
    settings.ANYMAIL = {**settings.ANYMAIL, "RESEND_SIGNING_SECRET": None}
    assert post(tracking_event("delivered", "x", "a@example.test")).status_code == 401


def test_an_esp_not_listed_is_refused(fake_resend: FakeResend, client: Any, settings: Any) -> None:
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": "user:pass"}
    settings.EMAIL_TRACKING_ESPS = ["resend"]
    response = client.post(
        "/webhooks/email/postmark/",
        data=b"{}",
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz",
    )
    assert response.status_code == 401
    assert (
        client.post(
            "/webhooks/email/nowhere/", data=b"{}", content_type="application/json"
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'{"type": "email.delivered"}', b"not json"],
)
def test_a_signed_but_malformed_event_is_400(
    fake_resend: FakeResend, post: Any, body: bytes
) -> None:
    import base64
    import hashlib
    import hmac

    from tests.support.fake_resend import SIGNING_SECRET

    ts = str(int(time.time()))
    key = base64.b64decode(SIGNING_SECRET.removeprefix("whsec_"))
    sig = base64.b64encode(hmac.new(key, f"msg_1.{ts}.".encode() + body, hashlib.sha256).digest())
    response = post(
        body, {"svix-id": "msg_1", "svix-timestamp": ts, "svix-signature": f"v1,{sig.decode()}"}
    )

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_the_email_channel_checks_the_list_before_calling(fake_resend: FakeResend) -> None:
    EmailSuppression.objects.create(address="ana@example.test", reason="bounced")
    message = OutboundMessage(
        reference="notification:1",
        channel="email",
        recipient="ANA@example.test",
        subject="s",
        body="b",
    )
    from notifications.exceptions import RecipientSuppressed

    with pytest.raises(RecipientSuppressed):
        EmailChannel().send(message=message)
    assert fake_resend.requests == []


@pytest.mark.parametrize(
    "data",
    [
        "[" * 5_000 + "]" * 5_000,  # past Python's stack: anymail's decoder raised RecursionError
        "[" * 100 + "]" * 100,  # past the inbox's depth cap
        "1" * 5_000,  # an integer literal past 64 bits
        '"a\\u0000b"',
    ],
    ids=["nested-5000", "nested-100", "int-5000-digits", "nul"],
)
def test_a_signed_hostile_resend_body_is_a_400_and_nothing_is_stored(
    fake_resend: FakeResend, post: Any, data: str
) -> None:
    template = json.dumps(tracking_event("delivered", "4ef9a417", "ana@example.test"))
    body = template.replace('"subject": "Payment received"', f'"subject": {data}').encode()
    headers = _svix_headers(body)

    response = post(body, headers)

    assert response.status_code == 400, response.content
    assert not WebhookEvent.objects.exists()


def _svix_headers(body: bytes) -> dict[str, str]:
    key = base64.b64decode(SIGNING_SECRET.removeprefix("whsec_"))
    msg_id, stamp = "msg_hostile_0001", str(int(time.time()))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        "svix-signature": f"v1,{base64.b64encode(digest).decode()}",
    }
