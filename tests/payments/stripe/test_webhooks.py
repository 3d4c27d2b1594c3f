"""Recorded Stripe events, signed with the real algorithm, through /webhooks/stripe/ and the inbox:
payments, refunds (out of order, duplicated), disputes and amount mismatches."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.models import WebhookEvent
from orders.models import OrderStatus
from orders.services import order_cancel
from payments.models import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.services import payment_create, payment_mark_succeeded, refund_approve, refund_request
from tests.factories import make_order, make_staff
from tests.payments.stripe.conftest import load_event

pytestmark = pytest.mark.django_db
T0 = 1_800_000_000
_ids = itertools.count(1)


def _event(name: str, *, at: int = T0, event_id: str | None = None, **obj: Any) -> dict[str, Any]:
    return load_event(name, event_id=event_id or f"evt_t{next(_ids)}", created=at, **obj)


def _payment(amount: int = 10_000, method: str = PaymentMethod.CARD, **kw: Any) -> Payment:
    return payment_create(order=make_order(amount=amount, **kw), provider="stripe", method=method)


def _pi(payment: Payment, name: str, **obj: Any) -> dict[str, Any]:
    at = obj.pop("at", T0)
    obj.setdefault("id", f"pi_{payment.pk}")
    obj.setdefault("amount", payment.amount)
    obj.setdefault("currency", payment.currency.lower())
    obj.setdefault("metadata", {"reference": f"payment:{payment.pk}"})
    return _event(name, at=at, **obj)


def _processed(response: Any) -> WebhookEvent:
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


# --- payments --------------------------------------------------------------------------------


def test_payment_succeeded_marks_paid_and_attaches_the_intent_id(post_event) -> None:
    payment = _payment()

    event = _processed(post_event(_pi(payment, "payment_intent.succeeded")))

    payment.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.object_id == f"pi_{payment.pk}"
    assert event.occurred_at == datetime.fromtimestamp(T0, tz=UTC)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_payment_id == f"pi_{payment.pk}"
    assert payment.order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)


def test_payment_found_by_intent_id_without_metadata(post_event) -> None:
    payment = _payment()
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id="pi_known")

    _processed(
        post_event(
            _pi(payment, "payment_intent.succeeded", id="pi_known", metadata={"reference": ""})
        )
    )

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_payment_failed_keeps_the_decline_code(post_event) -> None:
    payment = _payment()

    _processed(post_event(_pi(payment, "payment_intent.payment_failed")))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_reason == "insufficient_funds"
    assert payment.order.status == OrderStatus.PLACED


def test_payment_canceled(post_event) -> None:
    payment = _payment()

    _processed(post_event(_pi(payment, "payment_intent.canceled")))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED


def test_processing_then_succeeded_in_either_order_and_duplicated(post_event) -> None:
    first, second = _payment(method=PaymentMethod.BOLETO), _payment(method=PaymentMethod.BOLETO)
    for payment, names in (
        (first, ["payment_intent.processing", "payment_intent.succeeded"]),
        (second, ["payment_intent.succeeded", "payment_intent.processing"]),
    ):
        events = [_pi(payment, name, at=T0 + i) for i, name in enumerate(names)]
        for event in [*events, *events]:  # every delivery twice
            _processed(post_event(event))
        payment.refresh_from_db()
        assert payment.status == PaymentStatus.SUCCEEDED
    assert not WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).exists()
    assert WebhookEvent.objects.count() == 4


def test_a_late_failure_after_success_changes_nothing(post_event) -> None:
    payment = _payment()
    _processed(post_event(_pi(payment, "payment_intent.succeeded", at=T0 + 5)))
    _processed(post_event(_pi(payment, "payment_intent.payment_failed", at=T0)))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_amount_mismatch_is_flagged_and_the_payment_unchanged(post_event) -> None:
    payment = _payment(amount=10_000)
    event = _pi(payment, "payment_intent.succeeded", amount=1_000)

    _processed(post_event(event))
    _processed(post_event(event))  # redelivered: nothing new

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_payment_id == ""
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert flagged.payment == payment
    assert flagged.provider == "stripe"
    assert "provider says R$ 10,00, we have R$ 100,00" in flagged.detail


def test_currency_mismatch_is_flagged(post_event) -> None:
    payment = _payment()

    _processed(post_event(_pi(payment, "payment_intent.succeeded", currency="usd")))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert ReconciliationException.objects.get().kind == "amount_mismatch"


def test_an_intent_that_is_not_ours_goes_on_the_reconciliation_list(post_event) -> None:
    event = _event("payment_intent.succeeded", id="pi_foreign", metadata={})

    _processed(post_event(event))

    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.UNKNOWN_OBJECT
    assert flagged.provider_object_id == "pi_foreign"


def test_an_event_for_a_payment_not_committed_yet_is_retried(post_event) -> None:
    event = _event("payment_intent.succeeded", metadata={"reference": "payment:999999"})

    stored = _processed(post_event(event))

    stored.refresh_from_db()
    assert stored.status == WebhookEvent.Status.FAILED
    assert "ObjectNotReady" in stored.last_error


def test_unknown_types_are_ignored(post_event) -> None:
    event = _event("payment_intent.succeeded")
    event["type"] = "customer.created"

    assert _processed(post_event(event)).status == WebhookEvent.Status.IGNORED


# --- refunds ---------------------------------------------------------------------------------


@pytest.fixture
def paid() -> Payment:
    payment = _payment(amount=10_000)
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"pi_{payment.pk}")
    payment.refresh_from_db()
    return payment_mark_succeeded(payment=payment)


_staff = itertools.count(1)


def _approved_refund(payment: Payment, amount: int) -> Refund:
    support = make_staff(f"support{next(_staff)}")
    finance = make_staff(f"finance{next(_staff)}")
    refund = refund_request(payment=payment, requested_by=support, reason="other", amount=amount)
    return refund_approve(refund=refund, approver=finance)


def _re(refund: Refund, name: str, **obj: Any) -> dict[str, Any]:
    at = obj.pop("at", T0)
    obj.setdefault("id", f"re_{refund.pk}")
    obj.setdefault("amount", refund.amount)
    obj.setdefault("currency", refund.currency.lower())
    obj.setdefault("payment_intent", refund.payment.provider_payment_id)
    obj.setdefault("metadata", {"reference": f"refund:{refund.pk}"})
    return _event(name, at=at, **obj)


def test_partial_then_full_refund_out_of_order_and_duplicated(post_event, paid) -> None:
    partial = _approved_refund(paid, 4_000)
    rest = _approved_refund(paid, 6_000)
    partial_events = [
        _re(partial, "refund.updated", at=T0 + 2),  # succeeded, before its own refund.created
        _re(partial, "refund.created", at=T0 + 1),
    ]
    rest_events = [
        _re(rest, "refund.created", at=T0 + 3),
        _re(rest, "refund.updated", at=T0 + 4),
    ]
    charge = _event(
        "charge.refunded", id=f"ch_{paid.pk}", payment_intent=paid.provider_payment_id, at=T0 + 5
    )
    for event in [*partial_events, partial_events[0], *rest_events, *rest_events, charge]:
        _processed(post_event(event))

    paid.refresh_from_db()
    partial.refresh_from_db()
    rest.refresh_from_db()
    assert partial.status == RefundStatus.SUCCEEDED
    assert partial.provider_refund_id == f"re_{partial.pk}"
    assert rest.status == RefundStatus.SUCCEEDED
    assert paid.amount_refunded == 10_000
    assert paid.order.status == OrderStatus.REFUNDED
    assert not WebhookEvent.objects.exclude(status=WebhookEvent.Status.PROCESSED).exists()


def test_a_partial_refund_leaves_the_order_as_it_was(post_event, paid) -> None:
    refund = _approved_refund(paid, 2_500)
    paid.order.refresh_from_db()
    status_before = paid.order.status

    for event in [_re(refund, "refund.updated"), _re(refund, "refund.updated", event_id="evt_dup")]:
        _processed(post_event(event))
    _processed(post_event(_re(refund, "refund.updated", event_id="evt_dup")))  # same event id

    paid.refresh_from_db()
    paid.order.refresh_from_db()
    assert paid.amount_refunded == 2_500
    assert paid.order.status == status_before != OrderStatus.REFUNDED
    assert WebhookEvent.objects.count() == 2


def test_refund_found_by_stripe_id_when_metadata_is_missing(post_event, paid) -> None:
    refund = _approved_refund(paid, 1_000)
    Refund.objects.filter(pk=refund.pk).update(provider_refund_id="re_known")

    _processed(post_event(_re(refund, "refund.updated", id="re_known", metadata={})))

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED


def test_refund_failed_and_a_stale_pending_does_not_revive_it(post_event, paid) -> None:
    refund = _approved_refund(paid, 1_000)

    _processed(post_event(_re(refund, "refund.failed", at=T0 + 2)))
    _processed(post_event(_re(refund, "refund.created", at=T0 + 1)))

    refund.refresh_from_db()
    paid.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert refund.failure_reason == "expired_or_canceled_card"
    assert paid.amount_refunded == 0


def test_refund_amount_mismatch_is_flagged(post_event, paid) -> None:
    refund = _approved_refund(paid, 1_000)

    _processed(post_event(_re(refund, "refund.updated", amount=9_000)))

    refund.refresh_from_db()
    paid.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert paid.amount_refunded == 0
    assert ReconciliationException.objects.get().kind == "amount_mismatch"


def test_a_refund_made_outside_switchboard_is_flagged(post_event, paid) -> None:
    event = _event(
        "refund.updated",
        id="re_dashboard",
        amount=500,
        payment_intent=paid.provider_payment_id,
        metadata={},
    )

    _processed(post_event(event))

    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.UNKNOWN_OBJECT
    assert flagged.payment == paid
    paid.refresh_from_db()
    assert paid.amount_refunded == 0


# --- disputes --------------------------------------------------------------------------------


def _dp(payment: Payment, name: str, **obj: Any) -> dict[str, Any]:
    at = obj.pop("at", T0)
    obj.setdefault("id", f"dp_{payment.pk}")
    obj.setdefault("amount", payment.amount)
    obj.setdefault("currency", payment.currency.lower())
    obj.setdefault("payment_intent", payment.provider_payment_id)
    return _event(name, at=at, **obj)


def test_dispute_created_updated_closed(post_event, paid) -> None:
    _processed(post_event(_dp(paid, "charge.dispute.created", at=T0)))

    dispute = Dispute.objects.get()
    assert dispute.provider == "stripe"
    assert dispute.provider_dispute_id == f"dp_{paid.pk}"
    assert dispute.status == DisputeStatus.NEEDS_RESPONSE
    assert dispute.reason == "fraudulent"
    assert dispute.currency == "BRL"
    assert dispute.evidence_due_by == datetime.fromtimestamp(1_700_600_000, tz=UTC)
    paid.order.refresh_from_db()
    assert paid.order.is_flagged

    _processed(post_event(_dp(paid, "charge.dispute.updated", at=T0 + 10)))
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW

    _processed(post_event(_dp(paid, "charge.dispute.closed", at=T0 + 20)))
    _processed(post_event(_dp(paid, "charge.dispute.updated", at=T0 + 15)))  # late: ignored
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.WON
    assert dispute.closed_at is not None
    assert Dispute.objects.count() == 1


@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    [
        ("warning_needs_response", DisputeStatus.NEEDS_RESPONSE),
        ("warning_under_review", DisputeStatus.UNDER_REVIEW),
        ("warning_closed", DisputeStatus.CLOSED),
        ("prevented", DisputeStatus.CLOSED),
        ("lost", DisputeStatus.LOST),
    ],
)
def test_dispute_status_mapping(post_event, paid, stripe_status, ours) -> None:
    _processed(post_event(_dp(paid, "charge.dispute.created", status=stripe_status)))

    assert Dispute.objects.get().status == ours


def test_a_dispute_on_a_cancelled_order_flags_it_and_it_stays_cancelled(post_event) -> None:
    payment = _payment()
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"pi_{payment.pk}")
    payment.refresh_from_db()
    order_cancel(order=payment.order, reason="customer asked")

    _processed(post_event(_dp(payment, "charge.dispute.created")))

    payment.order.refresh_from_db()
    assert payment.order.status == OrderStatus.CANCELLED
    assert payment.order.is_flagged
    assert Dispute.objects.get().payment == payment


def test_a_dispute_with_another_currency_is_flagged_not_opened(post_event, paid) -> None:
    _processed(post_event(_dp(paid, "charge.dispute.created", currency="usd")))

    assert not Dispute.objects.exists()
    assert ReconciliationException.objects.get().kind == "amount_mismatch"
