"""Cancelling an order cancels its PaymentIntent at (the fake) Stripe through the ``order.cancelled``
subscriber; an intent paid first is applied as succeeded and goes on the reconciliation list."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.models import Delivery, DomainEvent, ProviderCall, WebhookEvent
from orders.models import OrderStatus
from orders.services import order_cancel
from payments.models import Payment, PaymentStatus, ReconciliationException
from payments.subscribers import cancel_payments_of_cancelled_order, start_payment_for_order
from tests.factories import make_order
from tests.payments.stripe.conftest import load_event
from tests.support.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db

CANCEL = "payments.cancel_payments_of_cancelled_order"


@pytest.fixture
def stripe_payment(settings):
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = ""  # a Pix/boleto-like intent awaiting the customer
    order = make_order(amount=4_200)
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    return Payment.objects.get(order=order)


def _cancelled(payment: Payment) -> DomainEvent:
    return DomainEvent.objects.get(type="order.cancelled", subject_id=str(payment.order_id))


def test_cancelling_the_order_cancels_the_intent_at_stripe(
    fake_stripe: FakeStripe, stripe_payment, post_event
):
    intent_id = stripe_payment.provider_payment_id
    order_cancel(order=stripe_payment.order, reason="customer asked")

    deliver_due()

    stripe_payment.refresh_from_db()
    assert fake_stripe.intents[intent_id]["status"] == "canceled"
    assert fake_stripe.intents[intent_id]["cancellation_reason"] == "abandoned"
    (seen,) = fake_stripe.requests_to(f"/v1/payment_intents/{intent_id}/cancel")
    assert seen.headers["idempotency-key"] == f"payment:{stripe_payment.pk}:cancel"
    assert stripe_payment.status == PaymentStatus.CANCELLED
    assert Delivery.objects.get(subscriber=CANCEL).status == Delivery.Status.SUCCEEDED
    with pytest.raises(ValueError, match="canceled"):
        fake_stripe.succeed(intent_id)  # the customer can no longer pay it

    # Stripe's own payment_intent.canceled, arriving after, changes nothing and flags nothing.
    event = load_event("payment_intent.canceled", event_id="evt_cx1", created=int(time.time()))
    event["data"]["object"] = dict(fake_stripe.intents[intent_id])
    assert post_event(event).status_code == 200
    assert WebhookEvent.objects.get(event_id="evt_cx1").status == "processed"
    assert not ReconciliationException.objects.exists()


def test_an_intent_paid_before_the_cancel_is_applied_and_flagged(
    fake_stripe: FakeStripe, stripe_payment, finance_user
):
    fake_stripe.succeed(stripe_payment.provider_payment_id)  # paid; its webhook not here yet
    order_cancel(order=stripe_payment.order, reason="customer asked")

    cancel_payments_of_cancelled_order(_cancelled(stripe_payment))
    deliver_due()

    stripe_payment.refresh_from_db()
    stripe_payment.order.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.SUCCEEDED
    assert stripe_payment.order.status == OrderStatus.CANCELLED
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.PAID_AFTER_CANCEL
    assert flagged.provider_object_id == stripe_payment.provider_payment_id
    assert [m.subject for m in mail.outbox if m.subject.startswith("Reconciliation:")] == [
        f"Reconciliation: Paid after cancel, refund due on {stripe_payment.order.number}"
    ]


def test_a_cancel_stripe_cannot_do_yet_ends_the_delivery_with_the_reason(
    fake_stripe: FakeStripe, stripe_payment
):
    fake_stripe.intents[stripe_payment.provider_payment_id]["status"] = "processing"
    order_cancel(order=stripe_payment.order, reason="customer asked")

    deliver_due()

    delivery = Delivery.objects.get(subscriber=CANCEL)
    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 1  # terminal at once, not retried until dead
    assert "ProviderRejected" in delivery.last_error
    assert "payment_intent_unexpected_state" in delivery.last_error
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.PENDING  # nothing applied here either


def test_stripe_down_during_the_cancel_retries_the_delivery(
    fake_stripe: FakeStripe, stripe_payment
):
    path = f"/v1/payment_intents/{stripe_payment.provider_payment_id}/cancel"
    fake_stripe.inject(path, *["edge_503"] * 10)
    order_cancel(order=stripe_payment.order, reason="customer asked")

    deliver_due()

    delivery = Delivery.objects.get(subscriber=CANCEL)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is not None
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.PENDING
    assert ProviderCall.objects.filter(operation="cancel_payment", status_code=503).exists()
