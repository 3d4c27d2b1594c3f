"""Issue 13 item 2: Z-API status callbacks at /webhooks/zapi/<token>/, authenticated by the URL
token and the Client-Token header (constant time); statuses in any order end in the same state;
duplicates are no-ops; forged ones are 401 with nothing changed, malformed ones 400."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.models import Customer
from integrations.models import DomainEvent, WebhookEvent, WebhookRejection
from notifications.channels.zapi.webhooks import endpoint
from notifications.models import Notification, NotificationStatus
from notifications.services import notification_queue
from notifications.workflows import notification_deliver
from tests.support.fake_zapi import CLIENT_TOKEN, WEBHOOK_TOKEN, FakeZapi

pytestmark = pytest.mark.django_db
N = NotificationStatus
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@pytest.fixture
def sent(customer: Customer, fake_zapi: FakeZapi) -> Notification:
    """A WhatsApp notification Z-API accepted (the fake keeps its messageId)."""
    notification = notification_queue(
        customer=customer, channel="whatsapp", template="order_paid", body="Paid, thanks!"
    )
    return notification_deliver(notification=notification)


def events(notification: Notification, type_: str) -> int:
    return DomainEvent.objects.filter(type=type_, subject_id=str(notification.pk)).count()


def test_the_endpoint_is_served_when_zapi_is_enabled(client: Any, settings: Any) -> None:
    from integrations.webhooks.registry import get_webhook_endpoint

    assert get_webhook_endpoint("zapi") is endpoint
    settings.ZAPI_ENABLED = False
    answer = client.post(f"/webhooks/zapi/{WEBHOOK_TOKEN}/", data=b"{}", content_type="a/json")
    assert answer.status_code == 404


def test_another_endpoint_has_no_token_url(client: Any) -> None:
    answer = client.post(
        "/webhooks/sandbox-messaging/anything/", data=b"{}", content_type="application/json"
    )
    assert answer.status_code == 404


def test_sent_received_read_in_order(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    message_id = sent.provider_message_id
    for offset, status in enumerate(["SENT", "RECEIVED", "READ"], start=1):
        body = fake_zapi.status_callback(
            message_id, status, momment=ms(T0 + timedelta(seconds=offset))
        )
        assert post_zapi(body).status_code == 200

    sent.refresh_from_db()
    assert sent.status == N.READ
    assert sent.delivered_at == T0 + timedelta(seconds=2)
    assert sent.read_at == T0 + timedelta(seconds=3)
    kinds = dict(WebhookEvent.objects.filter(provider="zapi").values_list("event_type", "status"))
    assert kinds == {
        "MessageStatusCallback.SENT": "ignored",
        "MessageStatusCallback.RECEIVED": "processed",
        "MessageStatusCallback.READ": "processed",
    }
    assert events(sent, "notification.delivered") == 1
    assert events(sent, "notification.read") == 1


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["SENT", "RECEIVED", "READ", "PLAYED"]))
)
def test_any_order_ends_read_with_the_providers_times(
    customer: Customer, fake_zapi: FakeZapi, post_zapi: Any, order: tuple[str, ...]
) -> None:
    notification = notification_deliver(
        notification=notification_queue(
            customer=customer, channel="whatsapp", template="t", body=f"order {order}"
        )
    )
    times = {"SENT": 1, "RECEIVED": 2, "READ": 3, "PLAYED": 4}
    for status in order:
        when = ms(T0 + timedelta(seconds=times[status]))
        body = fake_zapi.status_callback(notification.provider_message_id, status, momment=when)
        assert post_zapi(body).status_code == 200

    notification.refresh_from_db()
    assert notification.status == N.READ
    assert notification.delivered_at == T0 + timedelta(seconds=2)
    assert notification.read_at in (T0 + timedelta(seconds=3), T0 + timedelta(seconds=4))
    assert events(notification, "notification.read") == 1


def test_read_before_received_ends_read(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    read = fake_zapi.status_callback(sent.provider_message_id, "READ", momment=ms(T0))
    received = fake_zapi.status_callback(
        sent.provider_message_id, "RECEIVED", momment=ms(T0 - timedelta(seconds=5))
    )
    post_zapi(read)
    post_zapi(received)

    sent.refresh_from_db()
    assert sent.status == N.READ
    assert sent.delivered_at == T0 - timedelta(seconds=5)


def test_a_duplicate_is_stored_once_and_applied_once(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    body = fake_zapi.status_callback(sent.provider_message_id, "RECEIVED", momment=ms(T0))

    first, second = post_zapi(body), post_zapi(body)

    assert (first.json()["status"], second.json()["status"]) == ("stored", "duplicate")
    assert WebhookEvent.objects.filter(provider="zapi").count() == 1
    assert events(sent, "notification.delivered") == 1


def test_one_callback_for_several_messages_moves_each(
    customer: Customer, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    a, b = (
        notification_deliver(
            notification=notification_queue(
                customer=customer, channel="whatsapp", template="t", body=text
            )
        )
        for text in ("first", "second")
    )
    body = fake_zapi.status_callback(
        [a.provider_message_id, b.provider_message_id], "READ", momment=ms(T0)
    )

    assert post_zapi(body).status_code == 200

    for notification in (a, b):
        notification.refresh_from_db()
        assert notification.status == N.READ


@pytest.mark.parametrize(
    ("token", "client_token", "why"),
    [
        ("wrong-token-" + "x" * 30, CLIENT_TOKEN, "URL token"),
        ("", CLIENT_TOKEN, "URL token"),
        (WEBHOOK_TOKEN[:-1], CLIENT_TOKEN, "URL token"),
        (WEBHOOK_TOKEN, "not-the-client-token", "Client-Token"),
        (WEBHOOK_TOKEN, None, "Client-Token"),
        (WEBHOOK_TOKEN, CLIENT_TOKEN + "x", "Client-Token"),
    ],
)
def test_a_forged_callback_is_401_and_changes_nothing(
    sent: Notification,
    fake_zapi: FakeZapi,
    post_zapi: Any,
    token: str,
    client_token: str | None,
    why: str,
) -> None:
    body = fake_zapi.status_callback(sent.provider_message_id, "READ", momment=ms(T0))

    answer = post_zapi(body, token=token, client_token=client_token)

    assert answer.status_code == 401
    assert not WebhookEvent.objects.filter(provider="zapi").exists()
    sent.refresh_from_db()
    assert sent.status == N.SENT and sent.read_at is None
    (rejection,) = WebhookRejection.objects.filter(provider="zapi")
    assert why in rejection.reason
    assert "client-token" not in {name.lower() for name in rejection.headers}


def test_the_previous_url_token_works_during_a_rotation(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any, settings: Any
) -> None:
    settings.ZAPI_WEBHOOK_TOKEN = "the-new-callback-token-0123456789abcdef"
    settings.ZAPI_WEBHOOK_TOKEN_PREVIOUS = WEBHOOK_TOKEN
    body = fake_zapi.status_callback(sent.provider_message_id, "RECEIVED", momment=ms(T0))

    assert post_zapi(body, token=WEBHOOK_TOKEN).status_code == 200
    settings.ZAPI_WEBHOOK_TOKEN_PREVIOUS = ""
    again = fake_zapi.status_callback(sent.provider_message_id, "READ", momment=ms(T0))
    assert post_zapi(again, token=WEBHOOK_TOKEN).status_code == 401


def test_no_token_reaches_a_log_line(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any, json_log: Any
) -> None:
    body = fake_zapi.status_callback(sent.provider_message_id, "READ", momment=ms(T0))

    assert post_zapi(body, client_token="not-the-client-token").status_code == 401
    assert post_zapi(b"not json").status_code == 400

    lines = json_log.getvalue()
    assert "zapi" in lines, "the refusals were logged"
    assert WEBHOOK_TOKEN not in lines
    assert CLIENT_TOKEN not in lines


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"status": "READ", "ids": ["A1"], "momment": 1}).encode(),
        json.dumps({"type": "MessageStatusCallback", "ids": ["A1"], "momment": 1}).encode(),
        json.dumps({"type": "MessageStatusCallback", "status": "READ", "momment": 1}).encode(),
        json.dumps(
            {"type": "MessageStatusCallback", "status": "READ", "ids": [], "momment": 1}
        ).encode(),
        json.dumps(
            {"type": "MessageStatusCallback", "status": "READ", "ids": [7], "momment": 1}
        ).encode(),
        json.dumps(
            {"type": "MessageStatusCallback", "status": "READ", "ids": ["A1"], "momment": "1"}
        ).encode(),
        json.dumps(
            {"type": "MessageStatusCallback", "status": "READ", "ids": ["A1"], "momment": 10**17}
        ).encode(),
        json.dumps({"type": "DeliveryCallback", "phone": "5511987654321"}).encode(),
    ],
)
def test_a_malformed_callback_is_400_and_stores_nothing(post_zapi: Any, body: bytes) -> None:
    answer = post_zapi(body)

    assert answer.status_code == 400
    assert not WebhookEvent.objects.filter(provider="zapi").exists()


def test_a_status_of_a_message_we_did_not_send_is_kept_and_changes_nothing(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    body = fake_zapi.status_callback("3EB0FFFFFFFFFFFFFFFF", "READ", momment=ms(T0))
    body["phone"] = "5521999990000"  # a chat of the business's own phone

    assert post_zapi(body).status_code == 200

    event = WebhookEvent.objects.get(provider="zapi")
    assert event.status == "processed"
    sent.refresh_from_db()
    assert sent.status == N.SENT


def test_a_status_that_beats_the_send_result_is_retried(
    customer: Customer, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    """Z-API accepted the message but we have not recorded its id yet: the callback waits."""
    notification = notification_queue(
        customer=customer, channel="whatsapp", template="t", body="racing"
    )
    body = fake_zapi.status_callback("3EB0AAAAAAAAAAAAAAAA", "RECEIVED", momment=ms(T0))
    body["phone"] = "5511987654321"

    assert post_zapi(body).status_code == 200

    event = WebhookEvent.objects.get(provider="zapi")
    assert event.status == "failed", "not ready: retried by the inbox"
    notification.refresh_from_db()
    assert notification.status == N.QUEUED


def test_a_send_error_callback_fails_the_message(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    body = {
        "phone": "5511987654321",
        "zaapId": "0001ABC",
        "messageId": sent.provider_message_id,
        "type": "DeliveryCallback",
        "error": "Number is not on WhatsApp",
        "momment": ms(T0),
    }

    assert post_zapi(body).status_code == 200

    sent.refresh_from_db()
    assert sent.status == N.FAILED
    assert sent.error == "Number is not on WhatsApp"


def test_a_send_confirmation_and_other_types_are_ignored(
    sent: Notification, fake_zapi: FakeZapi, post_zapi: Any
) -> None:
    confirmation = {
        "phone": "5511987654321",
        "zaapId": "0001ABC",
        "messageId": sent.provider_message_id,
        "type": "DeliveryCallback",
    }
    # A received message opens WhatsApp's window (tests/notifications/test_policy_whatsapp.py).
    presence = {"type": "PresenceChatCallback", "phone": "5511987654321", "status": "AVAILABLE"}

    assert post_zapi(confirmation).status_code == 200
    assert post_zapi(presence).status_code == 200

    statuses = set(WebhookEvent.objects.filter(provider="zapi").values_list("status", flat=True))
    assert statuses == {"ignored"}
    sent.refresh_from_db()
    assert sent.status == N.SENT


@pytest.mark.django_db(transaction=True)
def test_the_fake_posts_a_callback_to_the_secret_url_over_http(
    live_server: Any, customer: Customer, fake_zapi: FakeZapi
) -> None:
    notification = notification_deliver(
        notification=notification_queue(
            customer=customer, channel="whatsapp", template="t", body="over the wire"
        )
    )
    url = f"{live_server.url}/webhooks/zapi/{WEBHOOK_TOKEN}/"
    body = fake_zapi.status_callback(notification.provider_message_id, "READ")

    assert fake_zapi.post_callback(url, body, client_token="forged").status_code == 401
    answer = fake_zapi.post_callback(url, body)

    assert answer.status_code == 200, answer.content
    notification.refresh_from_db()
    assert notification.status == N.READ
