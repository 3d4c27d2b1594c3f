"""Reactions of payments to other apps' events (run as Delivery rows, retried on failure).

Provider calls happen outside any transaction; each step is idempotent, so a retry after a crash
or an outage continues where the last attempt stopped and never charges or refunds twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from accounts.roles import FINANCE
from integrations.deliveries.registry import Subscriber
from integrations.events import render_summary
from integrations.models import DomainEvent
from orders.models import Order, OrderStatus
from payments.models import Dispute, Payment, PaymentStatus, Refund, RefundStatus
from payments.providers import get_payment_provider
from payments.providers.base import PaymentRequest, ProviderPayment, RefundRequest
from payments.services import payment_attach_provider_id, payment_create, refund_mark_processing


def start_payment_for_order(event: DomainEvent) -> None:
    """order.placed -> a payment at the provider (idempotency key ``payment:<pk>``)."""
    order = Order.objects.select_related("customer").get(pk=event.subject_id)
    payment = (
        Payment.objects.filter(order=order)
        .exclude(status__in=[PaymentStatus.FAILED, PaymentStatus.CANCELLED])
        .first()
    )
    if payment is None:
        if order.status != OrderStatus.PLACED:
            return
        payment = payment_create(
            order=order,
            provider=settings.PAYMENT_PROVIDER,
            method=order.payment_method or settings.DEFAULT_PAYMENT_METHOD,
        )
    if payment.provider_payment_id:
        return
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
    payment_attach_provider_id(
        payment=payment,
        provider_payment_id=answer.provider_payment_id,
        checkout=checkout_of(answer),
    )


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
    is down the delivery fails and is retried: the refund stays approved and queued."""
    refund = Refund.objects.select_related("payment").get(pk=event.subject_id)
    if refund.status != RefundStatus.APPROVED:
        return
    answer = get_payment_provider(refund.payment.provider).refund(
        request=RefundRequest(
            reference=refund.idempotency_key,
            provider_payment_id=refund.payment.provider_payment_id,
            amount=refund.amount,
            currency=refund.currency,
        )
    )
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


SUBSCRIBERS = [
    Subscriber(
        name="payments.start_payment",
        event_types=frozenset({"order.placed"}),
        handle=start_payment_for_order,
        atomic=False,  # calls the provider: no transaction (lock) held meanwhile
    ),
    Subscriber(
        name="payments.execute_refund",
        event_types=frozenset({"refund.approved"}),
        handle=execute_approved_refund,
        atomic=False,
    ),
    Subscriber(
        name="payments.notify_finance_of_dispute",
        event_types=frozenset({"dispute.opened"}),
        handle=notify_finance_of_dispute,
    ),
]
