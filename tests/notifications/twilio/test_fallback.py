"""Fallback to the rule's next channel (issue 13 item 7), against the fake Twilio (WhatsApp and
SMS) and the e-mail backend: a WhatsApp message that fails (not on WhatsApp, opted out) or is not
delivered within the rule's window goes out on SMS, once per step, then e-mail; a rate-limited
refusal does not fall back; the customer's timeline shows the chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.customers.selectors import customer_timeline
from accounts.models import Customer
from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery, DomainEvent
from notifications.consent.services import consent_opt_out
from notifications.fallback import notification_fallback_scan
from notifications.models import Notification, NotificationRule, NotificationStatus
from notifications.services import notification_mark_failed, notification_queue
from notifications.subscribers import notify_customer
from tests.factories import make_customer, make_paid_payment
from tests.support.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db

N = NotificationStatus
PHONE = "+5511987650001"
FALL_BACK = "notifications.fall_back"


def _customer() -> Customer:
    return make_customer(name="Rui", email="rui@example.test", phone=PHONE)


def _paid_event(customer: Customer) -> DomainEvent:
    order = make_paid_payment(customer=customer).order
    return DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))


def _run_fallbacks() -> int:
    """Run the fallback subscriber's pending deliveries, as the relay would (a webhook's own
    on-commit dispatch may have run them already); how many have run in all."""
    pending = Delivery.objects.filter(subscriber=FALL_BACK, status=Delivery.Status.PENDING)
    for delivery in pending.order_by("id"):
        assert delivery_run(delivery_id=delivery.pk).status == Delivery.Status.SUCCEEDED
    runs = Delivery.objects.filter(subscriber=FALL_BACK)
    assert not runs.exclude(status=Delivery.Status.SUCCEEDED).exists()
    return runs.count()


def _summaries(customer: Customer) -> list[str]:
    return [e.summary for e in customer_timeline(customer=customer, limit=50).entries]


def test_whatsapp_not_on_whatsapp_falls_back_to_sms_then_email_and_the_timeline_shows_it(
    fake_twilio: FakeTwilio, post_twilio: Any
) -> None:
    customer = _customer()
    event = _paid_event(customer)

    notify_customer(event)

    whatsapp = Notification.objects.get()
    assert (whatsapp.channel, whatsapp.status) == ("whatsapp", N.SENT)
    assert [m["to"] for m in fake_twilio.messages] == [f"whatsapp:{PHONE}"]
    # Twilio: the number is not on WhatsApp (63003), told by the signed status callback.
    sid = whatsapp.provider_message_id
    assert (
        post_twilio(fake_twilio.status_params(sid, "undelivered", error_code="63003")).status_code
        == 200
    )
    whatsapp.refresh_from_db()
    assert whatsapp.status == N.FAILED

    assert _run_fallbacks() == 1  # the failure's event, one delivery

    sms = Notification.objects.get(channel="sms")
    assert (sms.status, sms.previous, sms.previous_reason) == (N.SENT, whatsapp, "fallback")
    assert sms.dedupe_key == f"{event.pk}:sms"
    assert sms.body == whatsapp.body and sms.template == "order_paid"
    assert [m["to"] for m in fake_twilio.messages] == [f"whatsapp:{PHONE}", PHONE]
    delivery_run(delivery_id=Delivery.objects.get(subscriber=FALL_BACK).pk)  # redelivered
    assert Notification.objects.count() == 2  # once per step

    # The SMS fails too: e-mail, the last channel of the rule.
    post_twilio(
        fake_twilio.status_params(sms.provider_message_id, "undelivered", error_code="30005")
    )
    assert _run_fallbacks() == 2
    email = Notification.objects.get(channel="email")
    assert (email.status, email.previous) == (N.SENT, sms)
    assert mail.outbox[0].to == ["rui@example.test"]

    # The end of the list: a failed e-mail falls back to nothing.
    notification_mark_failed(notification=email, error="bounced")
    assert _run_fallbacks() == 3
    assert Notification.objects.count() == 3

    chain = [s for s in _summaries(customer) if "queued as fallback" in s]  # newest first
    assert len(chain) == 2
    assert chain[1].startswith("WhatsApp 'order_paid' failed (") and "63003" in chain[1]
    assert chain[1].endswith(f"-> SMS to {PHONE} queued as fallback")
    assert chain[0].startswith("SMS 'order_paid' failed (") and "30005" in chain[0]
    assert chain[0].endswith("-> E-mail to rui@example.test queued as fallback")


def test_a_customer_opted_out_of_whatsapp_gets_the_next_channel(
    fake_twilio: FakeTwilio,
) -> None:
    customer = _customer()
    consent_opt_out(customer=customer, channel="whatsapp", source="twilio inbound PARAR")
    event = _paid_event(customer)

    notify_customer(event)

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.status == N.FAILED and "opted out" in whatsapp.error
    assert fake_twilio.messages == []  # refused before any call
    assert _run_fallbacks() == 1
    sms = Notification.objects.get(channel="sms")
    assert (sms.status, sms.previous_reason) == (N.SENT, "fallback")
    assert [m["to"] for m in fake_twilio.messages] == [PHONE]


def test_not_delivered_within_the_window_falls_back_once(
    fake_twilio: FakeTwilio, post_twilio: Any
) -> None:
    customer = _customer()
    notify_customer(_paid_event(customer))
    other = make_customer(name="Bia", email="bia@example.test", phone="+5511987650002")
    notify_customer(_paid_event(other))
    whatsapp = Notification.objects.get(customer=customer)
    delivered = Notification.objects.get(customer=other)
    post_twilio(fake_twilio.status_params(delivered.provider_message_id, "delivered"))
    now = timezone.now()

    # Sent 29 minutes ago: still within the rule's 30 minutes.
    Notification.objects.filter(channel="whatsapp").update(sent_at=now - timedelta(minutes=29))
    assert notification_fallback_scan()["fell_back"] == 0
    # Sent 31 minutes ago and never delivered: SMS, once.
    Notification.objects.filter(channel="whatsapp").update(sent_at=now - timedelta(minutes=31))
    counts = notification_fallback_scan()
    again = notification_fallback_scan()

    assert counts["fell_back"] == 1 and again["fell_back"] == 0
    sms = Notification.objects.get(channel="sms")
    assert (sms.customer, sms.previous, sms.status) == (customer, whatsapp, N.SENT)
    assert not Notification.objects.filter(customer=other, channel="sms").exists()
    assert (
        f"WhatsApp 'order_paid' not delivered within 30 min -> SMS to {PHONE} queued as "
        "fallback" in _summaries(customer)
    )
    # The window is the rule's own: with 60 minutes, a message sent 31 minutes ago waits.
    NotificationRule.objects.filter(template="order_paid").update(fallback_minutes=60)
    third = make_customer(name="Caio", email="caio@example.test", phone="+5511987650009")
    notify_customer(_paid_event(third))
    Notification.objects.filter(customer=third).update(sent_at=now - timedelta(minutes=31))
    assert notification_fallback_scan()["fell_back"] == 0


def _refused(customer: Customer, refusal: str) -> Notification:
    """A WhatsApp message the send policy refused with ``refusal`` (failed before any call)."""
    event = _paid_event(customer)
    notification = notification_queue(
        customer=customer,
        channel="whatsapp",
        template="order_paid",
        body="Obrigado!",
        dedupe_key=f"{event.pk}:whatsapp",
    )
    Notification.objects.filter(pk=notification.pk).update(refusal=refusal)
    return notification_mark_failed(notification=notification, error=f"Refused: {refusal}")


def test_a_rate_limited_refusal_does_not_fall_back_but_a_preference_does(
    fake_twilio: FakeTwilio,
) -> None:
    limited = _refused(_customer(), "rate_limited")
    preference = _refused(
        make_customer(email="bia@example.test", phone="+5511987650003"), "preference"
    )

    assert _run_fallbacks() == 2

    assert not limited.follow_ups.exists()
    [follow_up] = preference.follow_ups.all()
    assert (follow_up.channel, follow_up.status) == ("sms", N.SENT)
    assert [m["to"] for m in fake_twilio.messages] == ["+5511987650003"]
