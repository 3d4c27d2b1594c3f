"""Payment and refund workflows that call the provider: start a charge, cancel it, react to an
expired one, execute an approved refund. The subscribers in ``payments.subscribers`` are one-line
calls to these; the admin and a future API call the same functions.

Provider calls happen outside any transaction; each step is idempotent, so a retry after a crash
or an outage continues where the last attempt stopped and never charges or refunds twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any

from django.conf import settings

from integrations.deliveries.relay import is_terminal
from integrations.exceptions import InvalidTransition, ProviderRejected, ProviderUnavailable
from orders.models import Order, OrderStatus
from orders.services import order_cancel
from payments.disputes import reconciliation_flag_contradiction
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.money_facts import payment_record_money
from payments.providers import get_payment_provider
from payments.providers.base import PaymentRequest, ProviderPayment, RefundRequest, SplitShare
from payments.services import (
    payment_announce_checkout,
    payment_announce_reissued,
    payment_attach_provider_id,
    payment_cancel,
    payment_create,
    payment_mark_failed,
    payment_mark_succeeded,
    refund_mark_failed,
    refund_mark_processing,
)
from payments.splits import payment_split_parts

# A payment in one of these statuses no longer collects the order's money: another may be made.
ENDED_UNPAID = (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED)
OPEN_PAYMENT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING)
PIX_EXPIRED_CANCEL_REASON = "The Pix code expired before it was paid."


def payment_start_for_order(*, order_id: int | str) -> Payment | None:
    """A placed order's payment at the active provider (``PAYMENT_PROVIDER``) with the order's
    payment method (or ``DEFAULT_PAYMENT_METHOD``): ``payment_start`` with those. None for an
    order pulled from a storefront (``Order.source``): the storefront collects its payment and
    says when it is paid."""
    order = Order.objects.select_related("customer").get(pk=order_id)
    if order.source:
        return None
    return payment_start(
        order=order,
        provider=settings.PAYMENT_PROVIDER,
        method=order.payment_method or settings.DEFAULT_PAYMENT_METHOD,
    )


def payment_start(*, order: Order, provider: str, method: str) -> Payment | None:
    """The order's live payment, created here and at ``provider`` if it has none (a placed order
    only), its provider id and checkout attached (idempotency key ``payment:<pk>``), and
    ``payment.checkout_ready`` recorded for a Pix code or boleto to send the customer
    (``payment_announce_checkout``). Idempotent:
    a run after a crash or an outage continues the same payment. Raises ProviderUnavailable
    (retry) or ProviderRejected (the payment was marked failed, with the provider's reason, when
    terminal). Calls the provider: never inside a transaction."""
    payment = Payment.objects.filter(order=order).exclude(status__in=ENDED_UNPAID).first()
    if payment is None:
        if order.status != OrderStatus.PLACED:
            return None
        payment = payment_create(order=order, provider=provider, method=method)
    if payment.provider_payment_id:
        payment_announce_checkout(payment=payment)
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
                split=tuple(
                    SplitShare(
                        wallet_id=part.wallet_id,
                        fixed_amount=part.fixed_amount,
                        percent=part.percent,
                    )
                    for part in payment_split_parts(payment)
                ),
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
        payment_cancel_at_provider(payment=payment)
    else:
        payment_announce_checkout(payment=payment)
    return payment


def payment_fetch_money_facts(*, payment_id: int | str) -> Payment:
    """Ask the payment's provider for its money facts (fee, net, settlement currency, when the
    funds are available, authorised and captured amounts) and record them
    (``payment_record_money``). Idempotent (a read, then the same write). Raises
    ProviderUnavailable, to be retried, while a succeeded payment's fee is not known yet (Stripe
    creates the balance transaction a moment after the charge), and whatever the provider
    raises. Calls the provider: never inside a transaction."""
    payment = Payment.objects.get(pk=payment_id)
    if not payment.provider_payment_id:
        return payment
    facts = get_payment_provider(payment.provider).money_facts(
        provider_payment_id=payment.provider_payment_id
    )
    payment = payment_record_money(
        payment=payment,
        fee_amount=facts.fee_amount,
        net_amount=facts.net_amount,
        settlement_currency=facts.settlement_currency,
        funds_available_at=facts.funds_available_at,
        amount_authorized=facts.amount_authorized,
        amount_captured=facts.amount_captured,
    )
    if payment.status == PaymentStatus.SUCCEEDED and payment.fee_amount is None:
        raise ProviderUnavailable(
            f"{payment.provider} has not settled {payment} yet (no fee known).",
            provider=payment.provider,
            operation="payment.money_facts",
        )
    return payment


def payment_handle_expired(*, payment_id: int | str, order_action: str) -> None:
    """An expired charge is cancelled at its provider (it must not be paid besides a new one),
    then the order follows ``order_action`` (what ``payment.expired`` announced): ``cancel``
    cancels a still placed order; ``new_charge`` issues a new charge for it (same provider and
    method) and announces it (``payment.reissued``: the customer gets the new code).

    Nothing more happens when the charge turns out paid (the provider's answer is applied: the
    order becomes paid), restored, or the order is no longer placed. Idempotent: a retry finds
    the charge cancelled and the new payment already there. Raises ProviderUnavailable (retry)
    or ProviderRejected (terminal)."""
    expired = Payment.objects.select_related("order").get(pk=payment_id)
    if expired.status == PaymentStatus.EXPIRED and expired.provider_payment_id:
        payment_cancel_at_provider(payment=expired)
        expired.refresh_from_db()
    if expired.status != PaymentStatus.EXPIRED:
        return  # paid after all, or restored: the order is not ours to act on
    order = Order.objects.select_related("customer").get(pk=expired.order_id)
    if order.status != OrderStatus.PLACED:
        return
    if order_action == "new_charge":
        new = payment_start(order=order, provider=expired.provider, method=expired.method)
        if new is not None and new.provider_payment_id:
            payment_announce_reissued(payment=new, replaces=expired)
        return
    with contextlib.suppress(InvalidTransition):  # cancelled or paid meanwhile
        order_cancel(order=order, reason=PIX_EXPIRED_CANCEL_REASON)


def order_payments_cancel(*, order_id: int | str) -> None:
    """Each open payment of a cancelled order is cancelled at its provider (idempotency key
    ``payment:<pk>:cancel``) and here, so the customer can no longer pay it.

    A provider that answers the payment was paid first has it applied as succeeded: the order
    stays cancelled and the payment goes on the reconciliation list as paid after cancel, refund
    due (finance is told). Raises ProviderUnavailable (retry) or ProviderRejected (terminal).
    Idempotent: a cancelled payment is not asked again."""
    payments = Payment.objects.filter(order_id=order_id, status__in=OPEN_PAYMENT_STATUSES)
    for payment in payments.order_by("pk"):
        payment_cancel_at_provider(payment=payment)


def payment_cancel_at_provider(*, payment: Payment) -> None:
    """Cancel ``payment`` at its provider (if it has a charge there), then apply the provider's
    answer through the services; an answer contradicting our status goes on the reconciliation
    list. Raises ProviderUnavailable when the provider neither cancelled nor ended it. Calls the
    provider: never inside a transaction."""
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


def refund_execute(*, refund_id: int | str) -> None:
    """An approved refund at its provider (idempotency key ``refund:<pk>``), then processing
    here. Only an approved refund is executed; a retry after the provider answered does nothing.
    While the provider is down ProviderUnavailable is raised: the refund stays approved and
    queued. A refund the provider rejects for good (more than is left, a charge not refundable)
    is marked failed with the provider's reason, and the ProviderRejected is raised."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
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
