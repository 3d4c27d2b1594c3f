"""Reactions of payments to other apps' events (run as Delivery rows, retried on failure).

Provider calls happen outside any transaction; each step is idempotent, so a retry after a crash
or an outage continues where the last attempt stopped and never charges or refunds twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from accounts.access.roles import FINANCE
from integrations.deliveries.registry import Subscriber
from integrations.deliveries.relay import is_terminal
from integrations.events import render_summary
from integrations.exceptions import InvalidTransition, ProviderRejected, ProviderUnavailable
from integrations.models import DomainEvent
from orders.models import Order, OrderStatus
from orders.services import order_cancel
from payments.disputes import NOTIFY_FINANCE_KINDS, reconciliation_flag_contradiction
from payments.models import (
    Dispute,
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.providers import get_payment_provider
from payments.providers.base import PaymentRequest, ProviderPayment, RefundRequest
from payments.services import (
    payment_announce_reissued,
    payment_attach_provider_id,
    payment_cancel,
    payment_create,
    payment_mark_failed,
    payment_mark_succeeded,
    refund_mark_failed,
    refund_mark_processing,
)


def start_payment_for_order(event: DomainEvent) -> None:
    """order.placed -> a payment at the provider (idempotency key ``payment:<pk>``). A charge the
    provider rejects (a 4xx) marks the payment failed with the provider's reason and ends the
    delivery with it; an unavailable provider retries it."""
    order = Order.objects.select_related("customer").get(pk=event.subject_id)
    start_payment(
        order,
        provider=settings.PAYMENT_PROVIDER,
        method=order.payment_method or settings.DEFAULT_PAYMENT_METHOD,
    )


# A payment in one of these statuses no longer collects the order's money: another may be made.
ENDED_UNPAID = (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED)


def start_payment(order: Order, *, provider: str, method: str) -> Payment | None:
    """The order's live payment, created here and at ``provider`` if it has none (a placed order
    only), its provider id and checkout attached. Idempotent: a run after a crash or an outage
    continues the same payment. Raises ProviderUnavailable (retry) or ProviderRejected (the
    payment was marked failed when terminal). Calls the provider: never inside a transaction."""
    payment = Payment.objects.filter(order=order).exclude(status__in=ENDED_UNPAID).first()
    if payment is None:
        if order.status != OrderStatus.PLACED:
            return None
        payment = payment_create(order=order, provider=provider, method=method)
    if payment.provider_payment_id:
        return payment
    if order.status == OrderStatus.CANCELLED:
        # Cancelled before its charge was created: nothing to create, nothing to cancel there.
        _payment_cancel_quietly(payment)
        return payment
    try:
        answer = get_payment_provider(payment.provider).create_payment(
            request=PaymentRequest(
                reference=f"payment:{payment.pk}",
                amount=payment.amount,
                currency=payment.currency,
                method=payment.method,
                customer_email=order.customer.email,
                customer_name=order.customer.name,
            )
        )
    except ProviderRejected as exc:
        if is_terminal(exc):  # the provider will never take it: say so on the payment
            with contextlib.suppress(InvalidTransition):
                payment_mark_failed(
                    payment=payment,
                    reason=exc.detail,
                    # An adapter's refusal may say what the customer can do (e.g. Asaas's
                    # TaxDocumentMissing: send us your CPF/CNPJ).
                    customer_reason=str(getattr(exc, "customer_reason", "")),
                )
        raise
    payment = payment_attach_provider_id(
        payment=payment,
        provider_payment_id=answer.provider_payment_id,
        checkout=checkout_of(answer),
    )
    if Order.objects.filter(pk=order.pk, status=OrderStatus.CANCELLED).exists():
        # The order was cancelled while the charge was being created: cancel that too.
        cancel_payment_at_provider(payment)
    return payment


PIX_EXPIRED_CANCEL_REASON = "The Pix code expired before it was paid."


def handle_expired_payment(event: DomainEvent) -> None:
    """payment.expired -> the expired charge is cancelled at its provider (it must not be paid
    besides a new one), then the order follows the event's ``order_action``: ``cancel`` cancels
    a still placed order; ``new_charge`` issues a new charge for it (same provider and method)
    and announces it (``payment.reissued``: the customer gets the new code).

    Nothing more happens when the charge turns out paid (the provider's answer is applied: the
    order becomes paid), restored, or the order is no longer placed. Idempotent: a retry finds
    the charge cancelled and the new payment already there. ProviderUnavailable retries the
    delivery; ProviderRejected ends it."""
    expired = Payment.objects.select_related("order").get(pk=event.subject_id)
    if expired.status == PaymentStatus.EXPIRED and expired.provider_payment_id:
        cancel_payment_at_provider(expired)
        expired.refresh_from_db()
    if expired.status != PaymentStatus.EXPIRED:
        return  # paid after all, or restored: the order is not ours to act on
    order = Order.objects.select_related("customer").get(pk=expired.order_id)
    if order.status != OrderStatus.PLACED:
        return
    if event.data.get("order_action") == "new_charge":
        new = start_payment(order, provider=expired.provider, method=expired.method)
        if new is not None and new.provider_payment_id:
            payment_announce_reissued(payment=new, replaces=expired)
        return
    with contextlib.suppress(InvalidTransition):  # cancelled or paid meanwhile
        order_cancel(order=order, reason=PIX_EXPIRED_CANCEL_REASON)


OPEN_PAYMENT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)


def cancel_payments_of_cancelled_order(event: DomainEvent) -> None:
    """order.cancelled -> each open payment of the order is cancelled at its provider (idempotency
    key ``payment:<pk>:cancel``) and here, so the customer can no longer pay it.

    A provider that answers the payment was paid first has it applied as succeeded: the order
    stays cancelled and the payment goes on the reconciliation list as paid after cancel, refund
    due (finance is told). ProviderUnavailable retries the delivery; ProviderRejected ends it
    with the reason. Idempotent: a cancelled payment is not asked again."""
    payments = Payment.objects.filter(
        order_id=event.subject_id, status__in=OPEN_PAYMENT_STATUSES
    ).order_by("pk")
    for payment in payments:
        cancel_payment_at_provider(payment)


def cancel_payment_at_provider(payment: Payment) -> None:
    """Cancel ``payment`` at its provider (if it has a charge there), then apply the provider's
    answer through the services. Calls the provider: never inside a transaction."""
    if not payment.provider_payment_id:
        _payment_cancel_quietly(payment)
        return
    answer = get_payment_provider(payment.provider).cancel(
        provider_payment_id=payment.provider_payment_id, reference=f"payment:{payment.pk}"
    )
    apply: dict[str, Callable[[], Any]] = {
        PaymentStatus.CANCELLED: lambda: payment_cancel(payment=payment),
        PaymentStatus.SUCCEEDED: lambda: payment_mark_succeeded(payment=payment),
        PaymentStatus.FAILED: lambda: payment_mark_failed(
            payment=payment, reason="failed at the provider before it was cancelled"
        ),
    }
    action = apply.get(answer.status)
    if action is None:  # the provider neither cancelled nor ended it: ask again later
        raise ProviderUnavailable(
            f"{payment.provider} left {payment} {answer.status} when asked to cancel it.",
            provider=payment.provider,
            operation="payment.cancel",
        )
    try:
        action()
    except InvalidTransition:
        # Already there, or moved meanwhile: a success on a payment cancelled here is news.
        reconciliation_flag_contradiction(
            obj=payment,
            target=answer.status,
            provider=payment.provider,
            provider_object_id=payment.provider_payment_id,
        )


def _payment_cancel_quietly(payment: Payment) -> None:
    # It may have ended meanwhile (cancelled, or a provider fact moved it): nothing to undo then.
    with contextlib.suppress(InvalidTransition):
        payment_cancel(payment=payment)


def checkout_of(answer: ProviderPayment) -> dict[str, Any]:
    """What a provider's answer carries beyond the common fields (Pix QR, boleto slip, invoice)."""
    common = {f.name for f in dataclasses.fields(ProviderPayment)}
    return {
        name: value
        for name, value in dataclasses.asdict(answer).items()
        if name not in common and value not in ("", None)
    }


def execute_approved_refund(event: DomainEvent) -> None:
    """refund.approved -> the provider refund (idempotency key ``refund:<pk>``). While the provider
    is down the delivery fails and is retried: the refund stays approved and queued. A refund the
    provider rejects (a 4xx: more than is left, a charge not refundable) is marked failed with
    the provider's reason, and the delivery ends with it (terminal, not retried)."""
    refund = Refund.objects.select_related("payment").get(pk=event.subject_id)
    if refund.status != RefundStatus.APPROVED:
        return
    try:
        answer = get_payment_provider(refund.payment.provider).refund(
            request=RefundRequest(
                reference=refund.idempotency_key,
                provider_payment_id=refund.payment.provider_payment_id,
                amount=refund.amount,
                currency=refund.currency,
            )
        )
    except ProviderRejected as exc:
        if is_terminal(exc):  # the provider will never do it: the refund failed, with why
            with contextlib.suppress(InvalidTransition):
                refund_mark_failed(refund=refund, reason=exc.detail)
        raise
    refund.refresh_from_db()
    if refund.status == RefundStatus.APPROVED:
        refund_mark_processing(refund=refund, provider_refund_id=answer.provider_refund_id)


def finance_emails() -> list[str]:
    """E-mail addresses of active users in the finance group, sorted."""
    users = get_user_model().objects.filter(groups__name=FINANCE, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def notify_finance_of_dispute(event: DomainEvent) -> None:
    """dispute.opened -> one e-mail to the finance group. The Delivery row runs this once on
    success; a failed send is retried by the relay (nothing was sent then)."""
    recipients = finance_emails()
    if not recipients:
        return
    dispute = Dispute.objects.select_related("payment__order").filter(pk=event.subject_id).first()
    if dispute is None:
        return
    due = dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC") if dispute.evidence_due_by else "-"
    send_mail(
        subject=f"Dispute opened on {dispute.payment.order.number}: evidence due {due}",
        message=(
            f"{render_summary(event)}\n\n"
            f"Provider: {dispute.provider} ({dispute.provider_dispute_id})\n"
            f"Status: {dispute.get_status_display()}\n"
            f"Evidence due: {due}\n"
            f"Order {dispute.payment.order.number} has been flagged.\n"
            f"Admin: {dispute.get_absolute_url()}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


def notify_finance_of_reconciliation(event: DomainEvent) -> None:
    """reconciliation.flagged -> one e-mail to the finance group for the kinds that are news
    (``NOTIFY_FINANCE_KINDS``: a fact contradicting a final status, money taken on a cancelled
    order); the others wait on the list. Sent once per exception (the Delivery row)."""
    exception = (
        ReconciliationException.objects.select_related("payment__order")
        .filter(pk=event.data.get("exception"))
        .first()
    )
    if exception is None or exception.kind not in NOTIFY_FINANCE_KINDS:
        return
    recipients = finance_emails()
    if not recipients:
        return
    order = exception.payment.order.number if exception.payment else "-"
    send_mail(
        subject=f"Reconciliation: {exception.get_kind_display()} on {order}",
        message=(
            f"{exception.detail}\n\n"
            f"Provider: {exception.provider} ({exception.provider_object_id or '-'})\n"
            f"Order: {order}\n"
            f"Admin: {exception_admin_url(exception)}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


def exception_admin_url(exception: ReconciliationException) -> str:
    return reverse("admin:payments_reconciliationexception_change", args=[exception.pk])


SUBSCRIBERS = [
    Subscriber(
        name="payments.start_payment",
        event_types=frozenset({"order.placed"}),
        handle=start_payment_for_order,
        atomic=False,  # calls the provider: no transaction (lock) held meanwhile
    ),
    Subscriber(
        name="payments.handle_expired_payment",
        event_types=frozenset({"payment.expired"}),
        handle=handle_expired_payment,
        atomic=False,
    ),
    Subscriber(
        name="payments.execute_refund",
        event_types=frozenset({"refund.approved"}),
        handle=execute_approved_refund,
        atomic=False,
    ),
    Subscriber(
        name="payments.cancel_payments_of_cancelled_order",
        event_types=frozenset({"order.cancelled"}),
        handle=cancel_payments_of_cancelled_order,
        atomic=False,
    ),
    Subscriber(
        name="payments.notify_finance_of_dispute",
        event_types=frozenset({"dispute.opened"}),
        handle=notify_finance_of_dispute,
    ),
    Subscriber(
        name="payments.notify_finance_of_reconciliation",
        event_types=frozenset({"reconciliation.flagged"}),
        handle=notify_finance_of_reconciliation,
    ),
]
