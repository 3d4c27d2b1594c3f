import pytest

from integrations.exceptions import InvalidTransition
from integrations.models import DomainEvent
from orders.models import OrderStatus
from payments.exceptions import PaymentNotAllowed, RefundNotAllowed, SelfApprovalForbidden
from payments.models import PaymentMethod, PaymentStatus, Refund, RefundStatus
from payments.services import (
    payment_cancel,
    payment_create,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    refund_approve,
    refund_mark_failed,
    refund_mark_processing,
    refund_mark_succeeded,
    refund_reject,
    refund_request,
)
from tests.factories import events_for, make_order, make_paid_payment


def test_successful_payment_marks_the_order_paid(db):
    order = make_order(amount=5_000)
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.PIX)
    assert (payment.amount, payment.currency) == (5_000, "BRL")
    payment = payment_mark_processing(payment=payment)
    payment = payment_mark_succeeded(payment=payment)
    order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and payment.succeeded_at is not None
    assert order.status == OrderStatus.PAID
    assert (
        DomainEvent.objects.filter(type="payment.succeeded", customer=order.customer).count() == 1
    )


def test_payment_refused_transitions_change_nothing(db):
    payment = make_paid_payment()
    events = DomainEvent.objects.count()
    for attempt in (payment_mark_processing, payment_cancel):
        with pytest.raises(InvalidTransition):
            attempt(payment=payment)
    with pytest.raises(InvalidTransition):
        payment_mark_failed(payment=payment, reason="late failure")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert DomainEvent.objects.count() == events


def test_failed_payment_leaves_order_placed(db):
    order = make_order()
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)
    payment_mark_failed(payment=payment, reason="Card declined")
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    with pytest.raises(InvalidTransition):
        payment_mark_succeeded(payment=payment)


def test_payment_only_for_placed_orders(db):
    payment = make_paid_payment()
    with pytest.raises(PaymentNotAllowed, match="only a placed order"):
        payment_create(order=payment.order, provider="sandbox", method="card")


def test_refund_request_defaults_to_full_and_respects_what_is_left(support_user):
    payment = make_paid_payment(amount=10_000)
    partial = refund_request(
        payment=payment, requested_by=support_user, reason="defective", amount=4_000
    )
    with pytest.raises(RefundNotAllowed, match=r"between R\$ 0,01 and R\$ 60,00"):
        refund_request(payment=payment, requested_by=support_user, reason="defective", amount=6_001)
    rest = refund_request(payment=payment, requested_by=support_user, reason="defective")
    assert (partial.amount, rest.amount) == (4_000, 6_000)
    with pytest.raises(RefundNotAllowed):
        refund_request(payment=payment, requested_by=support_user, reason="defective")
    assert Refund.objects.count() == 2


def test_refund_request_refuses_unpaid_payment_and_bad_reason(support_user):
    order = make_order()
    payment = payment_create(order=order, provider="sandbox", method="card")
    with pytest.raises(RefundNotAllowed, match="has not succeeded"):
        refund_request(payment=payment, requested_by=support_user, reason="defective")
    with pytest.raises(RefundNotAllowed, match="Unknown refund reason"):
        refund_request(payment=make_paid_payment(), requested_by=support_user, reason="whim")
    assert not Refund.objects.exists()


def test_nobody_decides_their_own_refund(finance_user):
    refund = refund_request(payment=make_paid_payment(), requested_by=finance_user, reason="other")
    with pytest.raises(SelfApprovalForbidden):
        refund_approve(refund=refund, approver=finance_user)
    with pytest.raises(SelfApprovalForbidden):
        refund_reject(refund=refund, approver=finance_user, reason="no")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED and refund.decided_by is None


def test_reject_needs_a_reason_and_a_decision_is_final(support_user, finance_user):
    refund = refund_request(payment=make_paid_payment(), requested_by=support_user, reason="other")
    with pytest.raises(RefundNotAllowed, match="needs a reason"):
        refund_reject(refund=refund, approver=finance_user, reason=" ")
    refund = refund_reject(refund=refund, approver=finance_user, reason="Outside window")
    assert refund.status == RefundStatus.REJECTED and refund.rejection_reason == "Outside window"
    with pytest.raises(InvalidTransition):
        refund_approve(refund=refund, approver=finance_user)


def test_full_refund_completes_payment_and_refunds_order(support_user, finance_user):
    payment = make_paid_payment(amount=8_000)
    refund = refund_request(payment=payment, requested_by=support_user, reason="not_received")
    refund = refund_approve(refund=refund, approver=finance_user)
    assert refund.idempotency_key == f"refund:{refund.pk}"
    refund = refund_mark_processing(refund=refund, provider_refund_id="re_1")
    refund = refund_mark_succeeded(refund=refund)
    payment.refresh_from_db()
    payment.order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED and refund.completed_at is not None
    assert payment.amount_refunded == 8_000
    assert payment.order.status == OrderStatus.REFUNDED
    types = set(events_for(refund).values_list("type", flat=True))
    assert {"refund.requested", "refund.approved", "refund.processing", "refund.succeeded"} <= types
    with pytest.raises(InvalidTransition):
        refund_mark_succeeded(refund=refund)
    payment.refresh_from_db()
    assert payment.amount_refunded == 8_000


def test_partial_refund_keeps_order_status(support_user, finance_user):
    payment = make_paid_payment(amount=8_000)
    refund = refund_request(
        payment=payment, requested_by=support_user, reason="defective", amount=3_000
    )
    refund = refund_approve(refund=refund, approver=finance_user)
    refund_mark_succeeded(refund=refund)
    payment.refresh_from_db()
    payment.order.refresh_from_db()
    assert payment.amount_refunded == 3_000
    assert payment.order.status == OrderStatus.PAID


def test_failed_refund_can_be_retried(support_user, finance_user):
    refund = refund_request(payment=make_paid_payment(), requested_by=support_user, reason="other")
    refund = refund_approve(refund=refund, approver=finance_user)
    refund = refund_mark_failed(refund=refund, reason="provider said no")
    assert refund.status == RefundStatus.FAILED
    refund = refund_mark_processing(refund=refund)
    assert refund.status == RefundStatus.PROCESSING
    with pytest.raises(InvalidTransition):
        refund_reject(refund=refund, approver=finance_user, reason="late")


def test_a_late_fact_never_moves_a_payment_backwards(db):
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    payment = payment_create(order=make_order(), provider="sandbox", method=PaymentMethod.BOLETO)
    payment = payment_mark_processing(payment=payment, occurred_at=t0 + timedelta(minutes=2))
    events = DomainEvent.objects.count()
    with pytest.raises(InvalidTransition):  # "failed" happened before "processing": superseded
        payment_mark_failed(payment=payment, reason="late", occurred_at=t0 + timedelta(minutes=1))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING
    assert payment.provider_updated_at == t0 + timedelta(minutes=2)
    assert DomainEvent.objects.count() == events
    payment = payment_mark_succeeded(payment=payment, occurred_at=t0 + timedelta(minutes=3))
    assert payment.status == PaymentStatus.SUCCEEDED
