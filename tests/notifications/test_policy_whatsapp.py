"""Issue 13 item 5: WhatsApp's 24-hour customer-service window. The customer's last inbound
WhatsApp message (Z-API ReceivedCallback, Twilio inbound whatsapp:) opens it; inside it free
text goes out; outside it only an approved template of (template key, language, provider) is
sent - through Twilio as ContentSid + ContentVariables, which the fake checks as Twilio does -
and anything else is refused before any call (Z-API sends no templates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Customer
from integrations.models import DomainEvent
from notifications.models import Notification, NotificationStatus, Refusal
from notifications.policy.models import WhatsAppInbound, WhatsAppTemplate
from notifications.policy.services import whatsapp_inbound_record
from notifications.services import notification_queue
from notifications.workflows import notification_deliver
from tests.factories import make_customer, make_order
from tests.support.fake_twilio import FROM_NUMBER, FakeTwilio
from tests.support.fake_zapi import CLIENT_TOKEN, WEBHOOK_TOKEN, FakeZapi, serve_fake_zapi
from tests.support.outbound import fast_outbound

pytestmark = pytest.mark.django_db
PHONE = "+5511987654321"
CONTENT_SID = "HX" + "0123456789abcdef" * 2
CONTENT = "Olá {{1}}, seu pedido {{2}} foi pago: {{3}}."


@pytest.fixture
def customer() -> Customer:
    return make_customer(name="Ana Souza", phone=PHONE, language="pt-br")


def queue(customer: Customer, **kw: Any) -> Notification:
    return notification_queue(
        customer=customer,
        channel="whatsapp",
        template="order_paid",
        body="Seu pedido foi pago.",
        **kw,
    )


def register_template(*, approved: bool = True, provider: str = "twilio") -> WhatsAppTemplate:
    return WhatsAppTemplate.objects.create(
        key="order_paid",
        language="pt-br",
        provider=provider,
        provider_template=CONTENT_SID,
        variables=["first_name", "order_number", "order_total"],
        content=CONTENT,
        approved=approved,
    )


def test_outside_the_window_without_a_template_twilio_is_never_called(
    customer: Customer, policy_twilio: FakeTwilio
) -> None:
    register_template(approved=False)  # registered, not approved: not sent
    result = notification_deliver(notification=queue(customer))

    assert (result.status, result.refusal) == (NotificationStatus.FAILED, Refusal.WHATSAPP_WINDOW)
    assert "not written on WhatsApp in the last 24 hours" in result.error
    assert "'order_paid' (pt-br)" in result.error
    assert policy_twilio.seen == []
    failed = DomainEvent.objects.get(type="notification.failed")
    assert failed.data["refusal"] == "whatsapp_window" and failed.customer_id == customer.pk


def test_inside_the_window_free_text_goes_out(
    customer: Customer, policy_twilio: FakeTwilio
) -> None:
    whatsapp_inbound_record(
        customers=[customer],
        provider="twilio",
        phone=PHONE,
        received_at=timezone.now() - timedelta(hours=23, minutes=50),
    )
    register_template()

    result = notification_deliver(notification=queue(customer))

    assert result.status == NotificationStatus.SENT
    (create,) = policy_twilio.creates()
    assert create.form["Body"] == ["Seu pedido foi pago."]
    assert "ContentSid" not in create.form, "inside the window: free text, not the template"


def test_outside_the_window_the_approved_template_goes_with_its_variables(
    customer: Customer, policy_twilio: FakeTwilio
) -> None:
    whatsapp_inbound_record(
        customers=[customer],
        provider="twilio",
        phone=PHONE,
        received_at=timezone.now() - timedelta(hours=25),  # closed
    )
    register_template()
    policy_twilio.contents[CONTENT_SID] = CONTENT
    order = make_order(customer=customer, amount=12_345)

    result = notification_deliver(notification=queue(customer, order=order))

    assert result.status == NotificationStatus.SENT, result.error
    (create,) = policy_twilio.creates()
    assert create.form["ContentSid"] == [CONTENT_SID]
    assert json.loads(create.form["ContentVariables"][0]) == {
        "1": "Ana",
        "2": order.number,
        "3": "R$ 123,45",
    }
    assert "Body" not in create.form
    assert create.form["To"] == [f"whatsapp:{PHONE}"]
    (message,) = policy_twilio.messages
    assert message["body"] == f"Olá Ana, seu pedido {order.number} foi pago: R$ 123,45."
    assert result.provider_message_id == message["sid"]


def test_the_fake_refuses_a_template_twilio_does_not_know(
    customer: Customer, policy_twilio: FakeTwilio
) -> None:
    register_template()  # registered here, but not one of the account's Content templates

    result = notification_deliver(notification=queue(customer))

    assert result.status == NotificationStatus.FAILED
    assert result.error.startswith("Twilio 21655")
    assert result.refusal == "", "the provider refused it, not the policy"


def test_the_fake_checks_content_variables_as_twilio_does(policy_twilio: FakeTwilio) -> None:
    policy_twilio.contents[CONTENT_SID] = "Hi {{1}} and {{2}}"
    base = {"To": [f"whatsapp:{PHONE}"], "From": [f"whatsapp:{FROM_NUMBER}"]}

    def create(**fields: str) -> tuple[int, Any]:
        return policy_twilio.create({**base, **{k: [v] for k, v in fields.items()}})

    assert create(ContentVariables='{"1": "a"}')[1]["code"] == 21654
    assert create(ContentSid="HX123", ContentVariables='{"1": "a"}')[1]["code"] == 21655
    assert create(ContentSid=CONTENT_SID, ContentVariables="not json")[1]["code"] == 21656
    assert create(ContentSid=CONTENT_SID, ContentVariables='{"1": "a"}')[1]["code"] == 21656
    assert create(ContentSid=CONTENT_SID, ContentVariables='{"1": "a", "2": ""}')[1]["code"] == (
        21656
    )
    status, message = create(ContentSid=CONTENT_SID, ContentVariables='{"1": "a", "2": "b"}')
    assert (status, message["body"]) == (201, "Hi a and b")


def test_a_twilio_inbound_whatsapp_message_opens_the_window(
    customer: Customer, policy_twilio: FakeTwilio, policy_post_twilio: Any
) -> None:
    response = policy_post_twilio(
        policy_twilio.inbound_params(f"whatsapp:{PHONE}", "Oi, tudo bem?")
    )
    assert response.status_code == 200
    inbound = WhatsAppInbound.objects.get()
    assert (inbound.customer_id, inbound.provider, inbound.phone) == (customer.pk, "twilio", PHONE)

    result = notification_deliver(notification=queue(customer))

    assert result.status == NotificationStatus.SENT
    assert policy_twilio.creates()[0].form["Body"] == ["Seu pedido foi pago."]


def test_an_inbound_sms_does_not_open_the_whatsapp_window(
    customer: Customer, policy_twilio: FakeTwilio, policy_post_twilio: Any
) -> None:
    assert policy_post_twilio(policy_twilio.inbound_params(PHONE, "Oi")).status_code == 200
    assert not WhatsAppInbound.objects.exists()


# --- Z-API: free text only ---------------------------------------------------------------------


@pytest.fixture
def fake_zapi(settings: Any) -> Iterator[FakeZapi]:
    from tests.support.fake_zapi import INSTANCE_ID, INSTANCE_TOKEN

    settings.ZAPI_ENABLED = True
    settings.ZAPI_INSTANCE_ID = INSTANCE_ID
    settings.ZAPI_INSTANCE_TOKEN = INSTANCE_TOKEN
    settings.ZAPI_CLIENT_TOKEN = CLIENT_TOKEN
    settings.ZAPI_WEBHOOK_TOKEN = WEBHOOK_TOKEN
    settings.MESSAGE_CHANNELS = {"email": "email", "whatsapp": "zapi"}
    fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)
    with serve_fake_zapi() as fake:
        settings.ZAPI_API_BASE = fake.url
        yield fake


def received(phone_digits: str, **extra: Any) -> dict[str, Any]:
    return {
        "isStatusReply": False,
        "connectedPhone": "5511900000000",
        "isGroup": False,
        "isNewsletter": False,
        "instanceId": "instance.id",
        "messageId": "3EB0C767D097B7C7C030",
        "phone": phone_digits,
        "fromMe": False,
        "momment": int(timezone.now().timestamp() * 1000),
        "status": "RECEIVED",
        "senderName": "Ana",
        "type": "ReceivedCallback",
        "text": {"message": "Oi"},
        **extra,
    }


def post_zapi(client: Any, capture: Any, body: dict[str, Any]) -> Any:
    with capture(execute=True):
        return client.post(
            f"/webhooks/zapi/{WEBHOOK_TOKEN}/",
            data=json.dumps(body),
            content_type="application/json",
            headers={"Client-Token": CLIENT_TOKEN},
        )


def test_zapi_outside_the_window_is_refused_even_with_a_template(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    register_template()  # a Twilio template: Z-API cannot send it

    result = notification_deliver(notification=queue(customer))

    assert (result.status, result.refusal) == (NotificationStatus.FAILED, Refusal.WHATSAPP_WINDOW)
    assert "zapi sends free text only" in result.error
    assert fake_zapi.seen == []


def test_a_zapi_received_message_opens_the_window(
    customer: Customer,
    fake_zapi: FakeZapi,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ours = received("5511987654321", fromMe=True, messageId="OURS")
    group = received("5511987654321", isGroup=True, messageId="GROUP")
    assert post_zapi(client, django_capture_on_commit_callbacks, ours).status_code == 200
    assert post_zapi(client, django_capture_on_commit_callbacks, group).status_code == 200
    assert not WhatsAppInbound.objects.exists(), "our own messages and groups open nothing"

    # WhatsApp may drop the ninth digit of a Brazilian mobile.
    body = received("551187654321")
    assert post_zapi(client, django_capture_on_commit_callbacks, body).status_code == 200
    assert post_zapi(client, django_capture_on_commit_callbacks, body).status_code == 200
    inbound = WhatsAppInbound.objects.get()
    assert (inbound.customer_id, inbound.provider, inbound.phone) == (customer.pk, "zapi", PHONE)

    result = notification_deliver(notification=queue(customer))

    assert result.status == NotificationStatus.SENT, result.error
    assert len(fake_zapi.seen) == 1


def test_a_malformed_received_callback_is_400(
    fake_zapi: FakeZapi, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    bad = received("55119876x4321")
    assert post_zapi(client, django_capture_on_commit_callbacks, bad).status_code == 400
    no_id = received("5511987654321")
    del no_id["messageId"]
    assert post_zapi(client, django_capture_on_commit_callbacks, no_id).status_code == 400
    assert not WhatsAppInbound.objects.exists()
