from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum

from accounts.access.roles import FINANCE
from accounts.models import User
from payments.models import OPEN_REFUND_STATUSES, Payment, Refund, RefundApproval, RefundStatus
from payments.refunds import refund_may_decide


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


def refunds_awaiting_decision_by(
    *, user: User, refunds: QuerySet[Refund] | None = None
) -> QuerySet[Refund]:
    """Refunds (of ``refunds``, default all) that ``user`` may decide now: requested, not their
    own request, not already approved by them (``refund_decision_options``' rules); none for a
    role that does not decide refunds. The status comes first, so the queue's
    ``(status, created_at, id)`` index serves it; each approval check is one probe of the
    ``(refund, approver)`` unique index."""
    refunds = Refund.objects.all() if refunds is None else refunds
    if not refund_may_decide(user=user):
        return refunds.none()
    approved_by_user = RefundApproval.objects.filter(refund=OuterRef("pk"), approver=user)
    return (
        refunds.filter(status=RefundStatus.REQUESTED)
        .exclude(requested_by=user)
        .filter(~Exists(approved_by_user))
    )
