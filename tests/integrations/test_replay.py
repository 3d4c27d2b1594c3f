"""Captured sequences (tests/fixtures/replay/, written by test_replay_capture.py with
``export_webhooks``) replayed through the real receiver and processing: the final state is the
one the captured flow reached. Our own calls (the payment, the refund) run again against the
fakes between the deliveries, as they did when the sequence was captured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from integrations.models import WebhookEvent
from orders.models import OrderStatus
from payments.models import Payment, PaymentStatus, RefundStatus
from tests.factories import events_for, make_asaas_customer, make_order
from tests.integrations import replay_flows as flows
from tests.integrations.replay_flows import World, world_substitutions

pytestmark = pytest.mark.django_db

S = WebhookEvent.Status


def _replay_paid_then_refunded(
    replay: Any,
    name: str,
    amount: int,
    refund_types: set[str],
    customer_pays: Callable[[Payment], object] = lambda payment: None,
) -> Any:
    folder = flows.FIXTURES / name
    captured = World.load(folder)
    order = make_order(customer=make_asaas_customer(), amount=amount)
    payment = flows.placed(order)
    customer_pays(payment)  # at the provider, as during the capture

    first = replay(
        folder=folder,
        substitute=world_substitutions(
            captured,
            World(
                payment_reference=f"payment:{payment.pk}",
                refund_reference=captured.refund_reference,
                provider_payment_id=payment.provider_payment_id,
                provider_refund_id=captured.provider_refund_id,
            ),
        ),
        only=lambda d: d.event_type not in refund_types,
    )
    assert first.status_codes and set(first.status_codes) == {200}
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert "order.paid" in [e.type for e in events_for(order)]
    assert order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)  # paid, then a shipment

    refund = flows.refund_in_full(Payment.objects.get(pk=payment.pk))
    second = replay(
        folder=folder,
        substitute=world_substitutions(captured, World.of(payment, refund)),
        only=lambda d: d.event_type in refund_types,
    )
    assert second.status_codes and set(second.status_codes) == {200}
    assert set(first.statuses) | set(second.statuses) == {S.PROCESSED}
    refund.refresh_from_db()
    payment.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == amount
    assert order.status == OrderStatus.REFUNDED
    return first, second


def test_replayed_stripe_sequence_pays_and_refunds_the_order(replay: Any, stripe_fake: Any) -> None:
    first, second = _replay_paid_then_refunded(
        replay, "stripe-paid-refunded", 5_000, {"refund.created", "refund.updated"}
    )
    assert [e.event_type for e in first.events + second.events] == [
        "payment_intent.succeeded",
        "refund.created",
        "refund.updated",
    ]


def test_replayed_asaas_sequence_pays_and_refunds_the_order(replay: Any, asaas_fake: Any) -> None:
    first, second = _replay_paid_then_refunded(
        replay,
        "asaas-paid-refunded",
        10_000,
        {"PAYMENT_REFUNDED"},
        customer_pays=lambda payment: asaas_fake.pay(payment.provider_payment_id),
    )
    assert [e.event_type for e in first.events + second.events] == [
        "PAYMENT_RECEIVED",
        "PAYMENT_REFUNDED",
    ]


def test_a_replay_goes_through_signature_verification(replay: Any, stripe_fake: Any) -> None:
    """Signed with a secret the receiver does not hold, nothing is stored or applied."""
    folder = flows.FIXTURES / "stripe-paid-refunded"
    order = make_order(customer=make_asaas_customer(), amount=5_000)
    payment = flows.placed(order)
    sent = replay(
        folder=folder,
        only=lambda d: d.event_type == "payment_intent.succeeded",
        secret="whsec_not_the_receivers_secret",
    )
    assert sent.status_codes == [401]
    assert sent.events == []
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_replayed_sandbox_sequence_pays_and_refunds_the_order(
    replay: Any, sandbox_payments: None
) -> None:
    first, second = _replay_paid_then_refunded(
        replay, "sandbox-paid-refunded", 7_000, {"refund.processing", "refund.succeeded"}
    )
    assert [e.event_type for e in first.events + second.events] == [
        "payment.succeeded",
        "refund.processing",
        "refund.succeeded",
    ]
