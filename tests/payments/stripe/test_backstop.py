"""The payment status backstop against the fake Stripe: it GETs the PaymentIntent through the
real adapter, SDK and outbound client, and applies what Stripe says."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import ProviderCall
from orders.models import OrderStatus
from payments.backstop import payments_backstop_pending
from payments.models import Payment, PaymentStatus, ReconciliationException
from tests.factories import make_order
from tests.support.backstop import age, start_payment, types_of
from tests.support.fake_stripe import FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_payment(settings: Any, fake_stripe: FakeStripe) -> Payment:
    """A Stripe payment created and confirmed at Stripe (``pm_card_visa``: it succeeded there)
    whose ``payment_intent.succeeded`` webhook never reached us."""
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    payment = age(start_payment(make_order(amount=7_500)))
    assert fake_stripe.intents[payment.provider_payment_id]["status"] == "succeeded"
    assert payment.status == PaymentStatus.PENDING
    return payment


def _gets(fake: FakeStripe, payment: Payment) -> int:
    return len(fake.requests_to(f"/v1/payment_intents/{payment.provider_payment_id}", "GET"))


def test_the_backstop_fetches_the_payment_intent_and_applies_succeeded(
    fake_stripe: FakeStripe, stripe_payment: Payment
) -> None:
    result = payments_backstop_pending()

    assert result.applied == 1
    assert _gets(fake_stripe, stripe_payment) == 1
    call = ProviderCall.objects.filter(provider="stripe", method="GET").get()
    assert call.url.endswith(f"/v1/payment_intents/{stripe_payment.provider_payment_id}")
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.SUCCEEDED
    assert stripe_payment.order.status == OrderStatus.PAID
    assert types_of(stripe_payment) == ["payment.created", "payment.succeeded"]


def test_a_payment_intent_still_awaiting_payment_is_left_pending(
    settings: Any, fake_stripe: FakeStripe
) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = ""
    payment = age(start_payment(make_order(amount=7_500)))
    assert fake_stripe.intents[payment.provider_payment_id]["status"] == "requires_payment_method"

    assert payments_backstop_pending().unchanged == 1

    assert _gets(fake_stripe, payment) == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_checked_at is not None


def test_a_payment_intent_canceled_at_stripe_cancels_the_payment(
    fake_stripe: FakeStripe, stripe_payment: Payment
) -> None:
    fake_stripe.intents[stripe_payment.provider_payment_id]["status"] = "canceled"

    assert payments_backstop_pending().applied == 1

    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.CANCELLED
    assert stripe_payment.order.status == OrderStatus.PLACED


def test_stripe_down_leaves_the_payment_pending_after_the_clients_retries(
    fake_stripe: FakeStripe, stripe_payment: Payment
) -> None:
    path = f"/v1/payment_intents/{stripe_payment.provider_payment_id}"
    fake_stripe.inject(path, "edge_503", "edge_503", "edge_503")

    result = payments_backstop_pending()

    assert result.unavailable == 1
    assert _gets(fake_stripe, stripe_payment) == 3  # OUTBOUND_MAX_ATTEMPTS, then given up
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.PENDING
    assert types_of(stripe_payment) == ["payment.created"]


def test_a_payment_intent_stripe_does_not_know_is_a_rejection_and_nothing_changes(
    fake_stripe: FakeStripe, stripe_payment: Payment
) -> None:
    del fake_stripe.intents[stripe_payment.provider_payment_id]

    assert payments_backstop_pending().rejected == 1

    assert _gets(fake_stripe, stripe_payment) == 1  # a 404 is not retried
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.PENDING


def test_an_amount_stripe_disagrees_with_is_flagged_not_applied(
    fake_stripe: FakeStripe, stripe_payment: Payment
) -> None:
    fake_stripe.intents[stripe_payment.provider_payment_id]["amount"] = 750

    assert payments_backstop_pending().mismatched == 1

    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.PENDING
    flagged = ReconciliationException.objects.get(payment=stripe_payment)
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert flagged.provider == "stripe"
