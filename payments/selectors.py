from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Sum

from accounts.access.roles import FINANCE
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


def finance_emails() -> list[str]:
    """E-mail addresses of active users in the finance group, sorted."""
    users = get_user_model().objects.filter(groups__name=FINANCE, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))
