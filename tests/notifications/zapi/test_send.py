"""Issue 13 item 2: WhatsApp through Z-API, sends. Text, document (the boleto PDF) and image (the
Pix QR code) from a notification against the fake Z-API; retries after a 5xx or a timeout send
one message; an open breaker leaves the notification queued, not lost."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from accounts.models import Customer
from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import CircuitBreaker, DomainEvent, ProviderCall
from notifications.channels import get_channel
from notifications.channels.base import Attachment, OutboundMessage, RecipientUnreachable
from notifications.channels.zapi.adapter import ZapiWhatsAppChannel, zapi_phone
from notifications.models import Notification, NotificationStatus
from notifications.services import notification_queue
from notifications.workflows import notification_deliver
from tests.support.fake_zapi import CLIENT_TOKEN, INSTANCE_ID, INSTANCE_TOKEN, FakeZapi

pytestmark = pytest.mark.django_db
N = NotificationStatus
PHONE = "5511987654321"  # the conftest customer's +5511987654321, as Z-API wants it
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n fake qr").decode()


def queue(customer: Customer, body: str = "Paid, thanks!", **kw: Any) -> Notification:
    return notification_queue(
        customer=customer, channel="whatsapp", template="order_paid", body=body, **kw
    )


def sends(fake: FakeZapi) -> list[str]:
    return [s.path.split("/")[5] for s in fake.seen if s.method == "POST"]


def test_whatsapp_is_carried_by_zapi_when_selected() -> None:
    assert get_channel("whatsapp").name == "zapi"


def test_phone_numbers_go_as_digits_with_the_country_code() -> None:
    assert zapi_phone("+5511987654321") == PHONE
    assert zapi_phone(" +14155550123 ") == "14155550123"
    for bad in ("11987654321", "+55 11 98765-4321", "+55119876x4321", "+", "+" + "\uff11" * 9):
        with pytest.raises(RecipientUnreachable):
            zapi_phone(bad)


def test_a_text_notification_goes_out_and_is_marked_sent(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    notification = queue(customer)

    notification = notification_deliver(notification=notification)

    (message,) = fake_zapi.sent
    assert message["phone"] == PHONE and message["text"] == {"message": "Paid, thanks!"}
    (call,) = fake_zapi.calls_to("send-text")
    assert call.path == f"/instances/{INSTANCE_ID}/token/{INSTANCE_TOKEN}/send-text"
    assert call.headers["client-token"] == CLIENT_TOKEN
    assert call.headers["content-type"] == "application/json"
    assert json.loads(call.raw) == {"phone": PHONE, "message": "Paid, thanks!"}
    assert "idempotency-key" not in call.headers, "Z-API has no idempotency key"
    assert notification.status == N.SENT
    assert (notification.provider, notification.provider_message_id) == (
        "zapi",
        message["messageId"],
    )
    sent_event = DomainEvent.objects.get(type="notification.sent", subject_id=str(notification.pk))
    assert sent_event.data["provider"] == "zapi"


def test_the_ledger_keeps_the_reference_and_no_secret(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    notification = notification_deliver(notification=queue(customer))

    (row,) = ProviderCall.objects.filter(provider="zapi")
    assert (row.operation, row.outcome, row.status_code) == ("message.send_text", "success", 200)
    assert row.idempotency_key == f"notification:{notification.pk}"
    for secret in (INSTANCE_TOKEN, CLIENT_TOKEN):
        assert secret not in row.url + row.error
    assert INSTANCE_ID in row.url


def test_the_boleto_pdf_goes_as_a_document(customer: Customer, fake_zapi: FakeZapi) -> None:
    notification = queue(
        customer,
        body="Your boleto for ORD-1",
        attachment=Attachment(
            kind="document",
            source="https://pay.example.test/boleto/123.pdf",
            filename="boleto-ORD-1.pdf",
        ),
    )

    notification = notification_deliver(notification=notification)

    (call,) = fake_zapi.calls_to("send-document")
    assert call.path.endswith("/send-document/pdf")
    assert json.loads(call.raw) == {
        "phone": PHONE,
        "document": "https://pay.example.test/boleto/123.pdf",
        "fileName": "boleto-ORD-1.pdf",
        "caption": "Your boleto for ORD-1",
    }
    assert notification.status == N.SENT
    assert notification.provider_message_id == fake_zapi.sent[0]["messageId"]
    assert notification.attachment.kind == "document"


def test_the_pix_qr_code_goes_as_an_image(customer: Customer, fake_zapi: FakeZapi) -> None:
    notification = queue(
        customer,
        body="Pay ORD-2 with Pix",
        attachment=Attachment(kind="image", source=PNG),
    )

    notification = notification_deliver(notification=notification)

    (call,) = fake_zapi.calls_to("send-image")
    assert json.loads(call.raw) == {"phone": PHONE, "image": PNG, "caption": "Pay ORD-2 with Pix"}
    assert notification.status == N.SENT
    assert fake_zapi.sent[0]["image"]["caption"] == "Pay ORD-2 with Pix"


@pytest.mark.parametrize(
    "attachment",
    [
        Attachment(kind="document", source="http://plain.example.test/boleto.pdf"),
        Attachment(kind="image", source="data:image/png,not-base64"),
        Attachment(kind="video", source="https://example.test/v.mp4"),
    ],
)
def test_an_attachment_that_cannot_be_sent_is_refused_before_queueing(
    customer: Customer, attachment: Attachment
) -> None:
    from notifications.exceptions import NotificationNotAllowed

    with pytest.raises(NotificationNotAllowed):
        queue(customer, attachment=attachment)
    assert not Notification.objects.exists()


def test_a_5xx_then_success_sends_one_message(customer: Customer, fake_zapi: FakeZapi) -> None:
    fake_zapi.fail("send-text", "500")

    notification = notification_deliver(notification=queue(customer))

    assert len(fake_zapi.sent) == 1, "one message reached the customer"
    assert sends(fake_zapi) == ["send-text", "send-text"]
    assert len(fake_zapi.calls_to("chat-messages")) == 1, "the chat was read before resending"
    assert notification.status == N.SENT
    assert notification.provider_message_id == fake_zapi.sent[0]["messageId"]
    outcomes = list(
        ProviderCall.objects.filter(operation="message.send_text")
        .order_by("id")
        .values_list("outcome", "status_code", "idempotency_key")
    )
    key = f"notification:{notification.pk}"
    assert outcomes == [("http_error", 500, key), ("success", 200, key)]


def test_a_5xx_after_zapi_sent_it_is_not_sent_again(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    fake_zapi.fail("send-text", "500_after_send")

    notification = notification_deliver(notification=queue(customer))

    assert len(fake_zapi.sent) == 1
    assert sends(fake_zapi) == ["send-text"], "found in the chat, not sent again"
    assert notification.provider_message_id == fake_zapi.sent[0]["messageId"]
    assert notification.status == N.SENT


def test_a_timeout_before_zapi_sent_it_is_retried_once(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    fake_zapi.fail("send-text", "timeout")

    notification = notification_deliver(notification=queue(customer))

    assert len(fake_zapi.sent) == 1
    assert sends(fake_zapi) == ["send-text", "send-text"]
    assert notification.status == N.SENT
    assert ProviderCall.objects.filter(outcome="timeout").count() == 1


def test_a_timeout_after_zapi_sent_it_sends_one_message(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    fake_zapi.fail("send-document", "timeout_after_send")
    notification = queue(
        customer,
        body="Your boleto",
        attachment=Attachment(kind="document", source="https://x.example.test/b.pdf"),
    )

    notification = notification_deliver(notification=notification)

    assert len(fake_zapi.sent) == 1
    assert sends(fake_zapi) == ["send-document"]
    assert notification.provider_message_id == fake_zapi.sent[0]["messageId"]


def test_a_later_retry_checks_the_chat_before_sending_again(
    customer: Customer, fake_zapi: FakeZapi, settings: Any
) -> None:
    """The task's retry, not the in-process one: the ledger row of the failed attempt says the
    message may have gone; the chat says it did."""
    settings.OUTBOUND_MAX_ATTEMPTS = 1
    fake_zapi.fail("send-text", "500_after_send")
    notification = queue(customer)

    with pytest.raises(ProviderUnavailable):
        notification_deliver(notification=notification)
    notification.refresh_from_db()
    assert notification.status == N.QUEUED

    notification = notification_deliver(notification=notification)

    assert len(fake_zapi.sent) == 1 and sends(fake_zapi) == ["send-text"]
    assert notification.status == N.SENT
    assert notification.provider_message_id == fake_zapi.sent[0]["messageId"]


def test_a_message_of_another_notification_with_the_same_text_is_not_taken(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    first = notification_deliver(notification=queue(customer, body="Same words"))
    fake_zapi.fail("send-text", "500")

    second = notification_deliver(notification=queue(customer, body="Same words"))

    assert len(fake_zapi.sent) == 2
    assert second.provider_message_id == fake_zapi.sent[1]["messageId"]
    assert second.provider_message_id != first.provider_message_id


def test_while_the_chat_cannot_be_read_nothing_is_sent_again(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    fake_zapi.fail("send-text", "500")
    fake_zapi.fail("chat-messages", "500", "500", "500", "500", "500", "500")
    notification = queue(customer)

    with pytest.raises(ProviderUnavailable):
        notification_deliver(notification=notification)

    assert sends(fake_zapi) == ["send-text"], "no second send while unsure"
    notification.refresh_from_db()
    assert notification.status == N.QUEUED


def test_an_open_breaker_keeps_the_message_queued_and_sends_it_later(
    customer: Customer, fake_zapi: FakeZapi, settings: Any
) -> None:
    CircuitBreaker.objects.create(provider="zapi", state="open", opened_at=timezone.now())
    notification = queue(customer)

    with pytest.raises(CircuitOpen):
        notification_deliver(notification=notification)

    assert fake_zapi.seen == [], "nothing sent while the breaker is open"
    notification.refresh_from_db()
    assert notification.status == N.QUEUED, "queued, not lost"
    assert ProviderCall.objects.filter(provider="zapi", outcome="circuit_open").count() == 1

    cooled = timezone.now() - timedelta(seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS + 1)
    CircuitBreaker.objects.filter(provider="zapi").update(opened_at=cooled)
    notification = notification_deliver(notification=notification)

    assert notification.status == N.SENT
    assert len(fake_zapi.sent) == 1
    assert CircuitBreaker.objects.get(provider="zapi").state == "closed"


def test_a_wrong_instance_token_fails_the_message_without_retrying(
    customer: Customer, fake_zapi: FakeZapi, settings: Any
) -> None:
    settings.ZAPI_INSTANCE_TOKEN = "0000000000000000WRONG000"
    notification = queue(customer)

    notification = notification_deliver(notification=notification)

    assert notification.status == N.FAILED
    assert "HTTP 400" in notification.error
    assert "0000000000000000WRONG000" not in notification.error
    assert fake_zapi.sent == [] and len(fake_zapi.seen) == 1, "a 4xx is not retried"


def test_a_wrong_client_token_is_refused_and_not_retried(
    customer: Customer, fake_zapi: FakeZapi, channel: ZapiWhatsAppChannel, settings: Any
) -> None:
    settings.ZAPI_CLIENT_TOKEN = "NotTheAccountToken0123456789"
    message = OutboundMessage(
        reference="notification:999",
        channel="whatsapp",
        recipient="+" + PHONE,
        subject="",
        body="x",
    )

    with pytest.raises(ProviderRejected) as refused:
        channel.send(message=message)

    assert refused.value.status_code == 400
    assert fake_zapi.sent == [] and len(fake_zapi.seen) == 1


def test_the_fake_refuses_what_zapi_refuses(fake_zapi: FakeZapi) -> None:
    session = requests.Session()
    session.trust_env = False
    base = f"{fake_zapi.url}/instances/{INSTANCE_ID}/token/{INSTANCE_TOKEN}"
    good = {"phone": PHONE, "message": "hi"}
    headers = {"Client-Token": CLIENT_TOKEN}

    def post(path: str, **kw: Any) -> requests.Response:
        return session.post(f"{base}/{path}", timeout=5, **kw)

    assert post("send-text", json=good).status_code == 400, "no Client-Token"
    assert post("send-text", json=good).json() == {"error": "null not allowed"}
    assert post("send-text", json=good, headers={"Client-Token": "nope"}).status_code == 400
    assert post("send-text", data=json.dumps(good), headers=headers).status_code == 415
    assert session.get(f"{base}/send-text", headers=headers, timeout=5).status_code == 405
    plus = {"phone": "+" + PHONE, "message": "hi"}
    assert post("send-text", json=plus, headers=headers).status_code == 400
    assert post("send-text", json={"phone": PHONE}, headers=headers).status_code == 400
    document = {"phone": PHONE, "document": "https://x.example.test/a.pdf"}
    assert post("send-document", json=document, headers=headers).status_code == 404
    wrong = f"{fake_zapi.url}/instances/{INSTANCE_ID}/token/WRONG/send-text"
    assert session.post(wrong, json=good, headers=headers, timeout=5).status_code == 400
    assert fake_zapi.sent == []

    answer = post("send-text", json=good, headers=headers)
    assert answer.status_code == 200
    assert set(answer.json()) == {"zaapId", "messageId", "id"}
    assert answer.json()["id"] == answer.json()["messageId"]


def test_the_admin_shows_what_the_attachment_is_not_its_bytes(
    customer: Customer, client: Any, admin_user: Any
) -> None:
    big = "data:image/png;base64," + "A" * 40_000
    notification = queue(customer, body="Pix", attachment=Attachment(kind="image", source=big))
    client.force_login(admin_user)

    page = client.get(notification.get_absolute_url())

    assert page.status_code == 200
    text = page.content.decode()
    assert "Image: data:image/png (39 KB inline)" in text
    assert "A" * 1000 not in text
