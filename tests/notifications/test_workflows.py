"""The notification workflow the subscriber calls (issue 9, item 6): called directly it sends
what the subscriber path (a Delivery row run by the relay) sends, once per event and channel."""

from __future__ import annotations

from django.core import mail

from accounts.models import Customer
from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery, DomainEvent
from notifications.models import Notification, NotificationStatus
from notifications.workflows import notification_send_for_event
from tests.factories import make_customer, make_paid_payment
from tests.support.shipping import EmitRecorder

NOTIFY = "notifications.notify_customer"


def _paid_event(customer: Customer) -> DomainEvent:
    order = make_paid_payment(customer=customer).order
    return DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))


def _sent(customer: Customer) -> list[tuple[str, str, str, str]]:
    return sorted(
        (n.channel, n.status, n.template, n.body)
        for n in Notification.objects.filter(customer=customer)
    )


def test_sending_directly_is_what_the_subscriber_sends(emitted: EmitRecorder) -> None:
    ana = make_customer(name="Ana", phone="+5511987654321")
    bia = make_customer(name="Bia", phone="+5511987654322")
    direct_event, via_event = _paid_event(ana), _paid_event(bia)

    notification_send_for_event(event=direct_event)
    delivery = delivery_run(delivery_id=Delivery.objects.get(subscriber=NOTIFY, event=via_event).pk)

    assert delivery.status == Delivery.Status.SUCCEEDED
    direct, via = _sent(ana), _sent(bia)
    assert [row[:3] for row in direct] == [
        ("whatsapp", NotificationStatus.SENT, "order_paid"),
    ]
    assert [row[:3] for row in via] == [row[:3] for row in direct]
    order_numbers = (direct_event.data["number"], via_event.data["number"])
    assert [row[3].replace(order_numbers[0], "N") for row in direct] == [
        row[3].replace(order_numbers[1], "N") for row in via
    ]

    # The subscriber for the event sent directly, and the workflow again: nothing sent twice.
    again = Delivery.objects.get(subscriber=NOTIFY, event=direct_event)
    assert delivery_run(delivery_id=again.pk).status == Delivery.Status.SUCCEEDED
    notification_send_for_event(event=via_event)
    assert Notification.objects.count() == 2
    assert len(mail.outbox) == 0 and len(emitted.calls) == 2
