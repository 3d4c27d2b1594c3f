"""The payment workflows the subscribers call (issue 9, item 6): called directly they do what
the subscriber path (a Delivery row run by the relay) does, and stay idempotent across both."""

from __future__ import annotations

from django.core import mail
from django.db.models import Model

from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery
from orders.models import Order
from payments.finance_notices import dispute_notify_finance
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.services import refund_approve, refund_request
from payments.workflows import payment_start_for_order, refund_execute
from tests.factories import make_order, make_paid_payment
from tests.support.backstop import types_of


def _run_subscriber(subscriber: str, subject: Model) -> Delivery:
    delivery = Delivery.objects.get(subscriber=subscriber, event__subject_id=str(subject.pk))
    return delivery_run(delivery_id=delivery.pk)


def _state(payment: Payment) -> tuple[object, ...]:
    return (
        payment.status,
        payment.provider,
        payment.method,
        payment.amount,
        payment.provider_payment_id.split("_")[0],
        types_of(payment),
    )


def test_starting_a_payment_directly_is_what_the_order_placed_subscriber_does(db) -> None:
    direct_order: Order = make_order(amount=4_200)
    via_order: Order = make_order(amount=4_200)

    direct = payment_start_for_order(order_id=direct_order.pk)
    delivery = _run_subscriber("payments.start_payment", via_order)

    assert delivery.status == Delivery.Status.SUCCEEDED
    assert direct is not None and direct.provider_payment_id
    via = Payment.objects.get(order=via_order)
    assert via.provider_payment_id and via.provider_payment_id != direct.provider_payment_id
    assert _state(direct) == _state(via)
    assert direct.status == PaymentStatus.PENDING

    # The subscriber for the order started directly finds its payment: nothing new anywhere.
    again = _run_subscriber("payments.start_payment", direct_order)
    assert again.status == Delivery.Status.SUCCEEDED
    assert list(Payment.objects.filter(order=direct_order)) == [direct]
    assert _state(Payment.objects.get(pk=direct.pk)) == _state(direct)


def _approved(support_user, finance_user) -> Refund:
    refund = refund_request(
        payment=make_paid_payment(amount=3_000), requested_by=support_user, reason="defective"
    )
    return refund_approve(refund=refund, approver=finance_user)


def test_executing_a_refund_directly_is_what_the_refund_approved_subscriber_does(
    support_user, finance_user, sandbox_refund_calls
) -> None:
    direct = _approved(support_user, finance_user)
    via = _approved(support_user, finance_user)

    refund_execute(refund_id=direct.pk)
    delivery = _run_subscriber("payments.execute_refund", via)

    assert delivery.status == Delivery.Status.SUCCEEDED
    direct.refresh_from_db()
    via.refresh_from_db()
    assert direct.status == via.status == RefundStatus.PROCESSING
    assert direct.provider_refund_id and via.provider_refund_id
    assert types_of(direct) == types_of(via)
    assert sandbox_refund_calls.references == [f"refund:{direct.pk}", f"refund:{via.pk}"]

    # Redelivered to the subscriber, or called again: the provider is not asked twice.
    _run_subscriber("payments.execute_refund", direct)
    refund_execute(refund_id=via.pk)
    assert len(sandbox_refund_calls) == 2


def test_the_dispute_notice_sent_directly_is_the_subscribers_mail(finance_user) -> None:
    from tests.payments.test_disputes import _open

    dispute = _open(make_paid_payment(amount=12_345))

    dispute_notify_finance(dispute_id=dispute.pk, summary="A summary line")
    delivery = _run_subscriber("payments.notify_finance_of_dispute", dispute)

    assert delivery.status == Delivery.Status.SUCCEEDED
    direct, via = mail.outbox
    assert direct.subject == via.subject and direct.to == via.to == [finance_user.email]
    assert direct.body.startswith("A summary line\n\n")
    assert via.body.replace(via.body.split("\n\n")[0], "A summary line", 1) == direct.body
    assert dispute.get_absolute_url() in via.body
