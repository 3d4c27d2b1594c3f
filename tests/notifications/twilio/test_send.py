"""Issue 13 item 3: SMS and WhatsApp through Twilio, sends. The SDK's HTTP goes through the
shared outbound client to the fake Twilio; a create that may have gone through (a 5xx, a
timeout) is looked up before it is repeated, so exactly one message reaches the fake; Twilio's
refusals map to terminal errors (21211 unreachable, 21610 opted out, recorded in the ledger)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from accounts.models import Customer
from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import CircuitBreaker, DomainEvent, ProviderCall
from notifications.channels import get_channel
from notifications.channels.base import OutboundMessage, RecipientUnreachable
from notifications.channels.twilio.adapter import TwilioChannel, twilio_address
from notifications.consent.selectors import consent_state
from notifications.exceptions import RecipientOptedOut
from notifications.models import ConsentRecord, Notification, NotificationStatus
from notifications.services import notification_queue
from notifications.workflows import notification_deliver
from tests.notifications.twilio.conftest import CALLBACK_URL
from tests.support.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    MESSAGING_SERVICE_SID,
    FakeTwilio,
)

pytestmark = pytest.mark.django_db
N = NotificationStatus
PHONE = "+5511987654321"  # the conftest customer's


def queue(customer: Customer, channel: str = "sms", body: str = "Paid, thanks!") -> Notification:
    return notification_queue(customer=customer, channel=channel, template="order_paid", body=body)


def deliver(notification: Notification, channel: TwilioChannel) -> Any:
    return channel.send(
        message=OutboundMessage(
            reference=f"notification:{notification.pk}",
            channel=notification.channel,
            recipient=notification.recipient,
            subject="",
            body=notification.body,
        )
    )


def test_sms_and_whatsapp_are_carried_by_twilio_when_selected() -> None:
    assert get_channel("sms").name == "twilio"
    assert get_channel("whatsapp").name == "twilio"


def test_addresses_are_e164_for_sms_and_whatsapp_prefixed_for_whatsapp() -> None:
    assert twilio_address("sms", PHONE) == PHONE
    assert twilio_address("whatsapp", PHONE) == f"whatsapp:{PHONE}"
    for bad in ("11987654321", "+55 11 98765-4321", "+", "whatsapp:123"):
        with pytest.raises(RecipientUnreachable):
            twilio_address("sms", bad)


def test_an_sms_is_created_with_from_body_and_status_callback(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    notification = queue(customer)

    sent = deliver(notification, channel)

    (create,) = fake_twilio.creates()
    assert create.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    basic = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert create.headers["authorization"] == f"Basic {basic}"
    assert create.headers["content-type"] == "application/x-www-form-urlencoded"
    assert create.form == {
        "To": [PHONE],
        "From": [FROM_NUMBER],
        "Body": ["Paid, thanks!"],
        "StatusCallback": [CALLBACK_URL],
    }
    (message,) = fake_twilio.messages
    assert (sent.provider, sent.provider_message_id) == ("twilio", message["sid"])
    assert message["sid"].startswith("SM")
    (call,) = ProviderCall.objects.filter(provider="twilio")
    assert (call.operation, call.status_code, call.subject_id) == (
        "message.create",
        201,
        str(notification.pk),
    )
    assert AUTH_TOKEN not in call.url + call.error and call.idempotency_key == ""


def test_whatsapp_goes_to_and_from_whatsapp_addresses(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    deliver(queue(customer, channel="whatsapp"), channel)

    (create,) = fake_twilio.creates()
    assert create.form["To"] == [f"whatsapp:{PHONE}"]
    assert create.form["From"] == [f"whatsapp:{FROM_NUMBER}"]


def test_a_messaging_service_replaces_from(
    settings: Any, customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    settings.TWILIO_MESSAGING_SERVICE_SID = MESSAGING_SERVICE_SID

    deliver(queue(customer), channel)

    (create,) = fake_twilio.creates()
    assert create.form["MessagingServiceSid"] == [MESSAGING_SERVICE_SID]
    assert "From" not in create.form


def test_the_workflow_marks_the_notification_sent(
    customer: Customer, fake_twilio: FakeTwilio
) -> None:
    sent = notification_deliver(notification=queue(customer))

    assert sent.status == N.SENT and sent.provider == "twilio"
    assert sent.provider_message_id == fake_twilio.messages[0]["sid"]


@pytest.mark.parametrize("fault", ["500_after_send", "timeout_after_send"])
def test_a_create_that_went_through_is_found_not_repeated(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel, fault: str
) -> None:
    fake_twilio.fail("create", fault)
    notification = queue(customer)

    sent = deliver(notification, channel)

    assert len(fake_twilio.messages) == 1, "exactly one message at Twilio"
    assert sent.provider_message_id == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.creates()) == 1
    lookups = [s for s in fake_twilio.seen if s.method == "GET"]
    assert len(lookups) == 1 and lookups[0].query["To"] == [PHONE]


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_create_that_did_not_go_through_is_sent_once_after_the_lookup(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel, fault: str
) -> None:
    fake_twilio.fail("create", fault)
    notification = queue(customer)

    sent = deliver(notification, channel)

    assert len(fake_twilio.messages) == 1
    assert sent.provider_message_id == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.creates()) == 2
    assert [s.method for s in fake_twilio.seen] == ["POST", "GET", "POST"]


def test_a_later_retry_looks_up_first_after_an_outage(
    settings: Any, customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    """Every in-process round ends unsure; the caller's retry (a new send) finds the message
    the last timed-out create made instead of creating a second one."""
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    fake_twilio.fail("create", "500", "timeout_after_send")
    notification = queue(customer)

    with pytest.raises(ProviderUnavailable):
        deliver(notification, channel)
    assert len(fake_twilio.messages) == 1

    sent = deliver(notification, channel)

    assert len(fake_twilio.messages) == 1
    assert sent.provider_message_id == fake_twilio.messages[0]["sid"]
    assert len(fake_twilio.creates()) == 2


def test_a_message_of_another_notification_is_not_adopted(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    first = queue(customer, body="Same words")
    first_sent = deliver(first, channel)
    Notification.objects.filter(pk=first.pk).update(
        status=N.SENT, provider="twilio", provider_message_id=first_sent.provider_message_id
    )
    fake_twilio.fail("create", "500")
    second = notification_queue(
        customer=customer, channel="sms", template="order_shipped", body="Same words"
    )

    sent = deliver(second, channel)

    assert len(fake_twilio.messages) == 2
    assert sent.provider_message_id != first_sent.provider_message_id


def test_an_invalid_to_is_unreachable_and_terminal(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    notification = queue(customer)
    message = OutboundMessage(
        reference=f"notification:{notification.pk}",
        channel="sms",
        recipient="+0000",
        subject="",
        body="x",
    )
    with pytest.raises(RecipientUnreachable):
        channel.send(message=message)
    assert fake_twilio.creates() == [], "refused before any call"


def test_twilio_21211_is_unreachable(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel, monkeypatch: Any
) -> None:
    """A number our check lets through but Twilio refuses (21211)."""
    monkeypatch.setattr(
        "notifications.channels.twilio.adapter.twilio_address",
        lambda channel, phone: "+1",
    )
    with pytest.raises(RecipientUnreachable, match="21211"):
        deliver(queue(customer), channel)
    assert fake_twilio.messages == []


def test_twilio_21610_is_an_opt_out_recorded_in_the_ledger(
    customer: Customer, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.opted_out.add(PHONE)
    notification = queue(customer)

    failed = notification_deliver(notification=notification)

    assert failed.status == N.FAILED
    assert "21610" in failed.error
    assert consent_state(customer_id=customer.pk, channel="sms").opted_out
    record = ConsentRecord.objects.get()
    assert record.source == "twilio refused the send (opted out)"
    assert DomainEvent.objects.filter(type="consent.opted_out", customer=customer).count() == 1
    assert fake_twilio.messages == []

    again = notification_deliver(notification=queue_again(customer))
    assert again.status == N.FAILED and "opted out of SMS" in again.error
    assert len(fake_twilio.creates()) == 1, "the second message is refused before any call"


def queue_again(customer: Customer) -> Notification:
    return notification_queue(
        customer=customer, channel="sms", template="order_shipped", body="Shipped!"
    )


def test_21610_raises_recipient_opted_out(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    fake_twilio.opted_out.add(f"whatsapp:{PHONE}")
    with pytest.raises(RecipientOptedOut) as caught:
        deliver(queue(customer, channel="whatsapp"), channel)
    assert caught.value.status_code == 400


def test_wrong_credentials_are_a_terminal_refusal(
    settings: Any, customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    settings.TWILIO_AUTH_TOKEN = "0" * 32

    with pytest.raises(ProviderRejected, match="20003") as caught:
        deliver(queue(customer), channel)

    assert caught.value.status_code == 401
    assert fake_twilio.messages == []
    assert "0" * 32 not in caught.value.detail


def test_an_open_breaker_sends_nothing(
    customer: Customer, fake_twilio: FakeTwilio, channel: TwilioChannel
) -> None:
    from django.utils import timezone

    CircuitBreaker.objects.create(
        provider="twilio", state=CircuitBreaker.State.OPEN, opened_at=timezone.now()
    )

    with pytest.raises(CircuitOpen):
        deliver(queue(customer), channel)

    assert fake_twilio.seen == []
