"""Issue 13 item 2, end to end: a domain event's customer message goes out through Z-API when
MESSAGE_CHANNELS says whatsapp=zapi, through the subscriber's Delivery row; while Z-API's breaker
is open the message stays queued and the Delivery is retried, then sent once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Customer
from integrations.deliveries.relay import delivery_run
from integrations.models import CircuitBreaker, Delivery, DomainEvent
from notifications.models import Notification, NotificationStatus
from tests.factories import make_paid_payment
from tests.support.fake_zapi import FakeZapi

NOTIFY = "notifications.notify_customer"


def paid_event(customer: Customer) -> DomainEvent:
    order = make_paid_payment(customer=customer).order
    return DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))


def test_a_domain_event_reaches_the_customer_through_zapi(
    customer: Customer, fake_zapi: FakeZapi
) -> None:
    event = paid_event(customer)

    delivery = delivery_run(delivery_id=Delivery.objects.get(subscriber=NOTIFY, event=event).pk)

    assert delivery.status == Delivery.Status.SUCCEEDED
    whatsapp = Notification.objects.get(customer=customer, channel="whatsapp")
    assert (whatsapp.status, whatsapp.provider) == (NotificationStatus.SENT, "zapi")
    (message,) = fake_zapi.sent
    assert message["phone"] == "5511987654321"
    assert message["messageId"] == whatsapp.provider_message_id
    assert event.data["number"] in message["text"]["message"]


def test_an_open_breaker_queues_the_message_and_the_retry_sends_it_once(
    customer: Customer, fake_zapi: FakeZapi, settings: Any
) -> None:
    CircuitBreaker.objects.create(provider="zapi", state="open", opened_at=timezone.now())
    event = paid_event(customer)
    row = Delivery.objects.get(subscriber=NOTIFY, event=event)

    delivery = delivery_run(delivery_id=row.pk)

    assert delivery.status == Delivery.Status.FAILED, "retried later, not dead"
    whatsapp = Notification.objects.get(customer=customer, channel="whatsapp")
    assert whatsapp.status == NotificationStatus.QUEUED
    assert fake_zapi.sent == []
    # An open breaker is "not now", not a failure: no fallback to e-mail.
    assert not Notification.objects.filter(customer=customer, channel="email").exists()

    past = timezone.now() - timedelta(seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS + 1)
    CircuitBreaker.objects.filter(provider="zapi").update(opened_at=past)
    Delivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    delivery = delivery_run(delivery_id=row.pk)

    assert delivery.status == Delivery.Status.SUCCEEDED
    whatsapp.refresh_from_db()
    assert whatsapp.status == NotificationStatus.SENT
    assert len(fake_zapi.sent) == 1
    assert Notification.objects.filter(customer=customer).count() == 1
