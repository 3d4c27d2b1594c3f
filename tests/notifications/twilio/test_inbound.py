"""Issue 13 items 3-4: inbound messages at /webhooks/twilio/ with STOP, PARAR or SAIR
(case-insensitive, trimmed) opt the customer found by phone out of THAT channel in the consent
ledger; START, UNSTOP or VOLTAR opt back in; the next message on that channel is refused before
any call, with the reason on the timeline."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Customer
from integrations.models import DomainEvent, WebhookEvent
from notifications.consent.selectors import consent_state
from notifications.models import ConsentRecord, NotificationStatus
from notifications.services import notification_queue
from notifications.workflows import notification_deliver
from tests.factories import make_customer
from tests.support.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db
PHONE = "+5511987654321"


def opted_out(customer: Customer, channel: str) -> bool:
    return consent_state(customer_id=customer.pk, channel=channel).opted_out


@pytest.mark.parametrize("body", ["STOP", "stop", "  Parar ", "SAIR", "sair.", "Stop!"])
def test_an_sms_stop_word_opts_the_customer_out_of_sms_only(
    customer: Customer, fake_twilio: FakeTwilio, post_twilio: Any, body: str
) -> None:
    response = post_twilio(fake_twilio.inbound_params(PHONE, body))

    assert response.status_code == 200
    assert opted_out(customer, "sms")
    assert not opted_out(customer, "whatsapp")
    record = ConsentRecord.objects.get()
    assert (record.channel, record.action, record.address) == ("sms", "opt_out", PHONE)
    assert record.source == f"twilio inbound {body.strip().strip('.!').upper()}"
    event = DomainEvent.objects.get(type="consent.opted_out")
    assert event.customer_id == customer.pk and event.data["channel"] == "sms"


def test_a_whatsapp_stop_opts_out_of_whatsapp_only(
    customer: Customer, fake_twilio: FakeTwilio, post_twilio: Any
) -> None:
    post_twilio(fake_twilio.inbound_params(f"whatsapp:{PHONE}", "PARAR"))

    assert opted_out(customer, "whatsapp")
    assert not opted_out(customer, "sms")


@pytest.mark.parametrize("body", ["stop please", "Obrigado!", "", "STOPP"])
def test_other_messages_change_nothing(
    customer: Customer, fake_twilio: FakeTwilio, post_twilio: Any, body: str
) -> None:
    assert post_twilio(fake_twilio.inbound_params(PHONE, body)).status_code == 200

    assert ConsentRecord.objects.count() == 0
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_a_redelivered_stop_is_one_record(
    customer: Customer, fake_twilio: FakeTwilio, post_twilio: Any
) -> None:
    params = fake_twilio.inbound_params(PHONE, "STOP")

    post_twilio(params)
    post_twilio(params)
    post_twilio(fake_twilio.inbound_params(PHONE, "SAIR"))  # a second word: already out

    assert ConsentRecord.objects.count() == 1
    assert DomainEvent.objects.filter(type="consent.opted_out").count() == 1


def test_start_opts_back_in(customer: Customer, fake_twilio: FakeTwilio, post_twilio: Any) -> None:
    post_twilio(fake_twilio.inbound_params(PHONE, "STOP"))
    post_twilio(fake_twilio.inbound_params(PHONE, "voltar"))

    assert not opted_out(customer, "sms")
    assert list(ConsentRecord.objects.order_by("id").values_list("action", flat=True)) == [
        "opt_out",
        "opt_in",
    ]


def test_an_unknown_phone_changes_nothing(fake_twilio: FakeTwilio, post_twilio: Any) -> None:
    make_customer(email="bia@example.test", phone="+5521912345678")

    post_twilio(fake_twilio.inbound_params("+5511900000000", "STOP"))

    assert ConsentRecord.objects.count() == 0


def test_after_stop_the_next_message_is_refused_before_any_call(
    customer: Customer, fake_twilio: FakeTwilio, post_twilio: Any
) -> None:
    post_twilio(fake_twilio.inbound_params(PHONE, "STOP"))
    fake_twilio.opted_out.clear()  # even were Twilio to let it through, we do not ask
    notification = notification_queue(
        customer=customer, channel="sms", template="order_shipped", body="Shipped!"
    )

    notification = notification_deliver(notification=notification)

    assert notification.status == NotificationStatus.FAILED
    assert "opted out of SMS" in notification.error and "twilio inbound STOP" in notification.error
    assert fake_twilio.creates() == []
    failed = DomainEvent.objects.get(type="notification.failed")
    assert "opted out of SMS" in failed.data["error"]

    whatsapp = notification_deliver(
        notification=notification_queue(
            customer=customer, channel="whatsapp", template="order_shipped", body="Shipped!"
        )
    )
    assert whatsapp.status == NotificationStatus.SENT, "the other channel still goes out"
