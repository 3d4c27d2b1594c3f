"""End to end on Stripe: order placed -> the real subscriber creates and confirms a PaymentIntent
at the fake Stripe -> Stripe's webhook (built from the fake's own PaymentIntent) marks it paid ->
a refund through the subscriber -> its webhooks settle it."""

from __future__ import annotations

import time

import pytest

from integrations.models import DomainEvent
from orders.models import OrderStatus
from payments.models import Payment, PaymentStatus, RefundStatus
from payments.services import refund_approve, refund_request
from payments.subscribers import execute_approved_refund, start_payment_for_order
from tests.factories import make_order, make_staff
from tests.payments.stripe.conftest import load_event
from tests.support.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


def test_order_to_paid_to_refunded_through_stripe(
    settings, fake_stripe: FakeStripe, post_event
) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    order = make_order(amount=5_000)
    placed = DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk))

    start_payment_for_order(placed)
    start_payment_for_order(placed)  # a redelivery: nothing new at Stripe

    payment = Payment.objects.get(order=order)
    (intent,) = fake_stripe.intents.values()
    assert payment.provider == "stripe"
    assert payment.provider_payment_id == intent["id"]
    assert intent["metadata"] == {"reference": f"payment:{payment.pk}"}
    assert intent["status"] == "succeeded"

    now = int(time.time())
    event = load_event("payment_intent.succeeded", event_id="evt_flow_1", created=now)
    event["data"]["object"] = dict(intent)
    assert post_event(event).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED

    refund = refund_request(
        payment=payment, requested_by=make_staff("support-f"), reason="other", amount=5_000
    )
    refund = refund_approve(refund=refund, approver=make_staff("finance-f"))
    approved = DomainEvent.objects.get(type="refund.approved", subject_id=str(refund.pk))
    execute_approved_refund(approved)
    (stripe_refund,) = fake_stripe.refunds.values()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert refund.provider_refund_id == stripe_refund["id"]

    for i, name in enumerate(["refund.created", "refund.updated"]):
        refund_event = load_event(name, event_id=f"evt_flow_re{i}", created=now + 1 + i)
        refund_event["data"]["object"] = {
            **stripe_refund,
            "status": "pending" if i == 0 else "succeeded",
        }
        assert post_event(refund_event).status_code == 200

    refund.refresh_from_db()
    payment.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 5_000
    assert order.status == OrderStatus.REFUNDED


def test_charge_refunded_applies_the_refunds_it_embeds(settings, fake_stripe, post_event) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    order = make_order(amount=2_000)
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    payment = Payment.objects.get(order=order)
    (intent,) = fake_stripe.intents.values()
    succeeded = load_event("payment_intent.succeeded", event_id="evt_c1", created=int(time.time()))
    succeeded["data"]["object"] = dict(intent)
    post_event(succeeded)
    refund = refund_approve(
        refund=refund_request(
            payment=payment, requested_by=make_staff("s-c"), reason="other", amount=700
        ),
        approver=make_staff("f-c"),
    )
    charge = load_event(
        "charge.refunded",
        event_id="evt_c2",
        created=int(time.time()),
        id=intent["latest_charge"],
        payment_intent=intent["id"],
        amount_refunded=700,
        refunded=False,
        refunds={
            "object": "list",
            "data": [
                {
                    "id": "re_embedded",
                    "object": "refund",
                    "amount": 700,
                    "currency": "brl",
                    "payment_intent": intent["id"],
                    "status": "succeeded",
                    "metadata": {"reference": f"refund:{refund.pk}"},
                }
            ],
        },
    )

    assert post_event(charge).status_code == 200
    assert post_event(charge).status_code == 200  # duplicate delivery

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.provider_refund_id == "re_embedded"
    assert payment.amount_refunded == 700
