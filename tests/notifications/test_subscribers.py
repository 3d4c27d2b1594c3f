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
from notifications.models import Notification, NotificationRule, NotificationStatus
from notifications.rule_events import rule_event_types
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


def test_the_subscriber_covers_every_type_a_rule_may_name() -> None:
    subscriber = get_subscriber("notifications.notify_customer")

    assert subscriber is not None
    assert subscriber.handle is notify_customer
    assert subscriber.event_types == rule_event_types()
    # Every type a seeded rule names, and the other order/payment/shipment/refund types, so a
    # rule added in the admin for one of them needs no deploy; never the notifications' own.
    assert {"order.paid", "payment.checkout_ready", "order.placed", "payment.created"} <= (
        subscriber.event_types
    )
    assert not any(t.startswith(("notification.", "consent.")) for t in subscriber.event_types)
    assert subscriber.atomic is False  # waits on providers outside any transaction


def test_a_rule_added_in_the_admin_for_another_type_sends_without_a_deploy(
    customer: Customer, emitted: EmitRecorder
) -> None:
    make_paid_payment(customer=customer)
    placed = _event("order.placed", customer=customer)
    notify_customer(placed)
    assert not Notification.objects.exists()  # no rule for order.placed: returns at once

    NotificationRule.objects.create(
        event_type="order.placed",
        template="order_placed",
        channels="email",
        subject_pt_br="Pedido {{ number }} recebido",
        body_pt_br="Recebemos o pedido {{ number }}.",
        subject_en="Order {{ number }} received",
        body_en="We received order {{ number }}.",
    )
    notify_customer(placed)

    [email] = Notification.objects.all()
    assert (email.channel, email.template, email.status) == ("email", "order_placed", N.SENT)
    assert mail.outbox[0].subject == f"Pedido {placed.data['number']} recebido"


def test_order_paid_sends_one_whatsapp_on_the_rules_first_channel_however_often_it_runs(
    customer: Customer, emitted: EmitRecorder
) -> None:
    order = make_paid_payment(customer=customer).order
    event = _paid_event(order)

    notify_customer(event)
    notify_customer(event)  # the delivery ran again

    # whatsapp,sms,email: no provider carries SMS here, e-mail is a fallback.
    [whatsapp] = Notification.objects.filter(customer=customer)
    assert whatsapp.channel == "whatsapp"
    assert whatsapp.dedupe_key == f"{event.pk}:whatsapp"
    assert whatsapp.status == N.SENT
    assert whatsapp.template == "order_paid"
    assert whatsapp.provider == "sandbox" and whatsapp.provider_message_id.startswith("sbx_msg_")
    assert whatsapp.recipient == "+5511987654321"
    assert whatsapp.body.startswith(f"Obrigado! Recebemos seu pagamento do pedido {order.number}")
    assert (whatsapp.category, whatsapp.urgent) == ("transactional", False)
    assert mail.outbox == []
    assert len(emitted.calls) == 1
    assert DomainEvent.objects.filter(type="notification.sent").count() == 1


def test_an_english_speaking_customer_reads_english(emitted: EmitRecorder) -> None:
    customer = make_customer(language="en")
    order = make_paid_payment(customer=customer).order

    notify_customer(_paid_event(order))

    assert Notification.objects.get().subject == f"Payment received for {order.number}"


def test_a_customer_without_a_phone_gets_only_the_email(emitted: EmitRecorder) -> None:
    customer = make_customer(phone="")
    order = make_paid_payment(customer=customer).order

    notify_customer(_paid_event(order))

    assert list(Notification.objects.values_list("channel", flat=True)) == ["email"]
    assert emitted.calls == []
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [customer.email]


def test_an_event_without_a_rule_sends_nothing(customer: Customer) -> None:
    make_paid_payment(customer=customer)

    notify_customer(_event("order.placed", customer=customer))

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_a_whatsapp_outage_leaves_it_queued_and_the_retry_sends_it_once(
    settings: Any, customer: Customer, emitted: EmitRecorder
) -> None:
    event = _paid_event(make_paid_payment(customer=customer).order)
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0

    with pytest.raises(SwitchboardError, match="simulated outage"):
        notify_customer(event)

    assert Notification.objects.get(channel="whatsapp").status == N.QUEUED
    settings.SANDBOX_CHAOS_FAILURE_RATE = 0.0
    notify_customer(event)
    assert Notification.objects.get(channel="whatsapp").status == N.SENT
    assert Notification.objects.count() == 1  # an outage is not a failure: no fallback
    assert mail.outbox == []


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
    # The failure's event brings the fallback subscriber: the next channel, e-mail.
    failed = _event("notification.failed", subject_id=str(whatsapp.pk))
    assert get_subscriber("notifications.fall_back") is not None
    get_subscriber("notifications.fall_back").handle(failed)  # type: ignore[union-attr]
    email = Notification.objects.get(channel="email")
    assert email.status == N.SENT
    assert (email.previous, email.previous_reason) == (whatsapp, "fallback")


def test_shipment_updates_carry_the_tracking_code(
    customer: Customer, emitted: EmitRecorder
) -> None:
    order = make_paid_payment(customer=customer).order
    shipment = shipment_create(order=order, carrier="sandbox")
    shipment_purchase_label(shipment=shipment, tracking_code="SB123456789BR")
    shipment_apply_tracking(shipment=shipment, status="posted")

    notify_customer(_event("shipment.posted", subject_id=str(shipment.pk)))

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.template == "shipment_posted"
    assert "Código de rastreio: SB123456789BR." in whatsapp.body


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

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.template == "refund_succeeded"
    assert f"um reembolso de R$ 25,00 do pedido {payment.order.number}." in whatsapp.body


def test_whatsapp_receipts_come_back_through_the_sandbox_webhooks(
    customer: Customer, emitted: EmitRecorder
) -> None:
    notify_customer(_paid_event(make_paid_payment(customer=customer).order))

    for event in reversed(emitted.events):
        deliver_event(endpoint, event)

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.status == N.READ
    assert whatsapp.delivered_at is not None
