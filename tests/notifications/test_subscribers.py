from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from accounts.models import Customer, User
from integrations.deliveries.registry import get_subscriber
from integrations.exceptions import ProviderRejected, SwitchboardError
from integrations.models import DomainEvent
from integrations.providers import MESSAGING, ProviderSpec
from notifications.channels.base import OutboundMessage, SentMessage
from notifications.channels.sandbox.webhooks import endpoint
from notifications.models import Notification, NotificationStatus
from notifications.rules import RULES
from notifications.subscribers import notify_customer
from orders.models import Order
from payments.services import (
    refund_approve,
    refund_mark_processing,
    refund_mark_succeeded,
    refund_request,
)
from shipping.services import shipment_apply_tracking, shipment_create, shipment_purchase_label
from tests.factories import make_customer, make_paid_payment
from tests.support.shipping import EmitRecorder, deliver_event

N = NotificationStatus


def _event(type_: str, **filters: Any) -> DomainEvent:
    return DomainEvent.objects.get(type=type_, **filters)


def _paid_event(order: Order) -> DomainEvent:
    return _event("order.paid", subject_id=str(order.pk))


def test_the_subscriber_covers_every_rule() -> None:
    subscriber = get_subscriber("notifications.notify_customer")

    assert subscriber is not None
    assert subscriber.handle is notify_customer
    assert subscriber.event_types == frozenset(RULES)
    assert subscriber.atomic is False  # waits on providers outside any transaction


def test_order_paid_sends_one_email_and_one_whatsapp_however_often_it_runs(
    customer: Customer, emitted: EmitRecorder
) -> None:
    order = make_paid_payment(customer=customer).order
    event = _paid_event(order)

    notify_customer(event)
    notify_customer(event)  # the delivery ran again

    notifications = {n.channel: n for n in Notification.objects.filter(customer=customer)}
    assert set(notifications) == {"email", "whatsapp"}
    email, whatsapp = notifications["email"], notifications["whatsapp"]
    assert email.dedupe_key == f"{event.pk}:email"
    assert whatsapp.dedupe_key == f"{event.pk}:whatsapp"
    assert email.status == whatsapp.status == N.SENT
    assert email.template == whatsapp.template == "order_paid"
    assert email.provider == "email" and email.provider_message_id
    assert whatsapp.provider == "sandbox" and whatsapp.provider_message_id.startswith("sbx_msg_")
    assert whatsapp.recipient == "+5511987654321"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ana@example.test"]
    assert order.number in mail.outbox[0].subject
    assert mail.outbox[0].extra_headers["Message-ID"] == email.provider_message_id
    assert len(emitted.calls) == 1
    assert DomainEvent.objects.filter(type="notification.sent").count() == 2


def test_a_customer_without_a_phone_gets_only_the_email(emitted: EmitRecorder) -> None:
    customer = make_customer(phone="")
    order = make_paid_payment(customer=customer).order

    notify_customer(_paid_event(order))

    assert list(Notification.objects.values_list("channel", flat=True)) == ["email"]
    assert emitted.calls == []


def test_an_event_without_a_rule_sends_nothing(customer: Customer) -> None:
    make_paid_payment(customer=customer)

    notify_customer(_event("order.placed", customer=customer))

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_a_whatsapp_outage_still_sends_the_email_and_the_retry_sends_the_rest(
    settings: Any, customer: Customer, emitted: EmitRecorder
) -> None:
    event = _paid_event(make_paid_payment(customer=customer).order)
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0

    with pytest.raises(SwitchboardError, match="simulated outage"):
        notify_customer(event)

    assert Notification.objects.get(channel="email").status == N.SENT
    assert Notification.objects.get(channel="whatsapp").status == N.QUEUED
    settings.SANDBOX_CHAOS_FAILURE_RATE = 0.0
    notify_customer(event)
    assert Notification.objects.get(channel="whatsapp").status == N.SENT
    assert Notification.objects.count() == 2
    assert len(mail.outbox) == 1  # the e-mail was not sent twice


class _RejectingChannel:
    name = "rejecting"

    def send(self, *, message: OutboundMessage) -> SentMessage:
        raise ProviderRejected("400 Bad Request: not a WhatsApp number", provider=self.name)


spec = ProviderSpec(
    family=MESSAGING.name,
    name=_RejectingChannel.name,
    adapter=f"{__name__}._RejectingChannel",
    enabled_by="TEST_CHANNEL_ENABLED",
    channels=("whatsapp",),
)


def test_a_terminal_refusal_marks_the_notification_failed(
    settings: Any, customer: Customer
) -> None:
    # This module is a provider package too: it exports ``spec`` (below).
    settings.MESSAGE_PROVIDERS = [*settings.MESSAGE_PROVIDERS, __name__]
    settings.TEST_CHANNEL_ENABLED = True
    settings.MESSAGE_CHANNELS = {**settings.MESSAGE_CHANNELS, "whatsapp": _RejectingChannel.name}
    event = _paid_event(make_paid_payment(customer=customer).order)

    notify_customer(event)  # does not raise: retrying cannot help

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.status == N.FAILED
    assert "not a WhatsApp number" in whatsapp.error
    assert Notification.objects.get(channel="email").status == N.SENT


def test_shipment_updates_carry_the_tracking_code(
    customer: Customer, emitted: EmitRecorder
) -> None:
    order = make_paid_payment(customer=customer).order
    shipment = shipment_create(order=order, carrier="sandbox")
    shipment_purchase_label(shipment=shipment, tracking_code="SB123456789BR")
    shipment_apply_tracking(shipment=shipment, status="posted")

    notify_customer(_event("shipment.posted", subject_id=str(shipment.pk)))

    assert len(mail.outbox) == 1
    assert "SB123456789BR" in mail.outbox[0].body
    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.template == "shipment_posted"
    assert "SB123456789BR" in whatsapp.body


def test_a_refund_sends_the_amount(
    customer: Customer, support_user: User, finance_user: User, emitted: EmitRecorder
) -> None:
    payment = make_paid_payment(customer=customer, amount=12_990)
    refund = refund_request(
        payment=payment, requested_by=support_user, reason="requested_by_customer", amount=2_500
    )
    refund = refund_approve(refund=refund, approver=finance_user)
    refund = refund_mark_processing(refund=refund, provider_refund_id="sbx_re_1")
    refund_mark_succeeded(refund=refund)

    notify_customer(_event("refund.succeeded", customer=customer))

    assert "R$ 25,00" in mail.outbox[0].body
    assert f"for {payment.order.number}." in mail.outbox[0].body
    assert Notification.objects.get(channel="whatsapp").template == "refund_succeeded"


def test_whatsapp_receipts_come_back_through_the_sandbox_webhooks(
    customer: Customer, emitted: EmitRecorder
) -> None:
    notify_customer(_paid_event(make_paid_payment(customer=customer).order))

    for event in reversed(emitted.events):
        deliver_event(endpoint, event)

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.status == N.READ
    assert whatsapp.delivered_at is not None
