"""Stripe's dispute fee (its dispute balance transactions) is kept on the dispute, and the
``dispute.lost`` / ``dispute.won`` events carry the amount, currency and fee the journal posts."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from integrations.models import DomainEvent
from payments.models import Dispute, Payment, PaymentMethod
from payments.services import payment_create, payment_mark_succeeded
from tests.factories import make_order
from tests.payments.stripe.conftest import load_event

T0 = 1_800_000_000
_ids = itertools.count(1)


@pytest.fixture
def paid(db: None) -> Payment:
    payment = payment_create(
        order=make_order(amount=20_000), provider="stripe", method=PaymentMethod.CARD
    )
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"pi_{payment.pk}")
    payment.refresh_from_db()
    return payment_mark_succeeded(payment=payment)


def _dispute_event(payment: Payment, name: str, *, at: int, **obj: Any) -> dict[str, Any]:
    obj.setdefault("id", f"dp_{payment.pk}")
    obj.setdefault("amount", payment.amount)
    obj.setdefault("currency", "brl")
    obj.setdefault("payment_intent", payment.provider_payment_id)
    return load_event(name, event_id=f"evt_fee{next(_ids)}", created=at, **obj)


def _withdrawal(amount: int, fee: int, txn: str) -> dict[str, Any]:
    return {
        "id": txn,
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "currency": "brl",
        "net": amount - fee,
        "reporting_category": "dispute",
    }


def test_a_lost_dispute_carries_the_amount_and_stripes_fee(post_event: Any, paid: Payment) -> None:
    withdrawn = [_withdrawal(-20_000, 1500, "txn_dp1")]
    post_event(
        _dispute_event(paid, "charge.dispute.created", at=T0, balance_transactions=withdrawn)
    )
    dispute = Dispute.objects.get()
    assert (dispute.fee_amount, dispute.fee_currency) == (1500, "BRL")

    post_event(
        _dispute_event(
            paid, "charge.dispute.closed", at=T0 + 10, status="lost", balance_transactions=withdrawn
        )
    )

    lost = DomainEvent.objects.get(type="dispute.lost")
    assert lost.data["amount"] == 20_000 and lost.data["currency"] == "BRL"
    assert (lost.data["fee_amount"], lost.data["fee_currency"]) == (1500, "BRL")


def test_a_won_dispute_nets_the_fee_stripe_gave_back(post_event: Any, paid: Payment) -> None:
    post_event(
        _dispute_event(
            paid,
            "charge.dispute.created",
            at=T0,
            balance_transactions=[_withdrawal(-20_000, 1500, "txn_dp1")],
        )
    )
    reinstated = [_withdrawal(-20_000, 1500, "txn_dp1"), _withdrawal(20_000, -1500, "txn_dp2")]

    post_event(
        _dispute_event(
            paid, "charge.dispute.closed", at=T0 + 10, status="won", balance_transactions=reinstated
        )
    )

    won = DomainEvent.objects.get(type="dispute.won")
    assert won.data["amount"] == 20_000
    assert won.data["fee_amount"] == 0
    assert Dispute.objects.get().fee_amount == 0


def test_without_balance_transactions_the_fee_is_unknown(post_event: Any, paid: Payment) -> None:
    post_event(_dispute_event(paid, "charge.dispute.created", at=T0))
    dispute = Dispute.objects.get()
    assert dispute.fee_amount is None and dispute.fee_currency == ""
    opened = DomainEvent.objects.get(type="dispute.opened")
    assert opened.data["fee_amount"] is None
