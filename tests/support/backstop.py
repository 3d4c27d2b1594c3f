"""Shared by the payment status backstop tests (sandbox, Stripe, Asaas)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from integrations.models import DomainEvent
from orders.models import Order
from payments.models import Payment
from payments.subscribers import start_payment_for_order
from tests.factories import events_for


def start_payment(order: Order) -> Payment:
    """The real ``order.placed`` subscriber: our payment row and the provider's, ids attached."""
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    return Payment.objects.get(order=order)


def age(payment: Payment, *, minutes: float = 20) -> Payment:
    """Make ``payment`` look created ``minutes`` ago (past PAYMENT_BACKSTOP_AFTER_SECONDS)."""
    Payment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )
    payment.refresh_from_db()
    return payment


def types_of(obj: Any) -> list[str]:
    """The types of the DomainEvents about ``obj``, oldest first."""
    return [event.type for event in events_for(obj)]
