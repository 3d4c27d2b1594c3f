from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet, Sum

from payments.models import OPEN_REFUND_STATUSES, Payment, Refund


def customer_ids_by_provider_id(term: str) -> QuerySet[Any]:
    """Customers whose payment or refund carries this provider id."""
    return Payment.objects.filter(
        Q(provider_payment_id=term)
        | Q(pk__in=Refund.objects.filter(provider_refund_id=term).values("payment_id"))
    ).values("order__customer_id")


def payment_refundable_amount(*, payment: Payment) -> int:
    """What can still be asked for: paid, less refunded, less refunds still open."""
    held = (
        Refund.objects.filter(payment=payment, status__in=OPEN_REFUND_STATUSES).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return payment.amount - payment.amount_refunded - held
