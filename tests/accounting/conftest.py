"""Money facts to post: payments with fees, refunds, disputes and payouts, made through the
payments services (the journal reads what they write)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from accounting.models import JournalEntry
from accounts.models import User
from payments.disputes import dispute_apply_fact
from payments.models import Dispute, Payment, Refund, RefundReason
from payments.money_facts import payment_record_money
from payments.services import (
    payment_attach_provider_id,
    refund_approve,
    refund_mark_succeeded,
    refund_request,
)
from tests.factories import make_order, make_paid_payment, make_staff


def paid(amount: int = 10_000, *, fee: int | None = None, **order: Any) -> Payment:
    payment = make_paid_payment(order=make_order(amount=amount, **order))
    payment = payment_attach_provider_id(payment=payment, provider_payment_id=f"pay_{payment.pk}")
    if fee is not None:
        payment = payment_record_money(
            payment=payment,
            fee_amount=fee,
            net_amount=payment.amount - fee,
            settlement_currency=payment.currency,
        )
    return payment


def refunded(payment: Payment, amount: int, *, at: datetime | None = None) -> Refund:
    requester = User.objects.filter(username="support-j").first() or make_staff(
        "support-j", role="support"
    )
    approver = User.objects.filter(username="finance-j").first() or make_staff(
        "finance-j", role="finance"
    )
    refund = refund_request(
        payment=payment,
        requested_by=requester,
        reason=RefundReason.REQUESTED_BY_CUSTOMER,
        amount=amount,
    )
    refund = refund_approve(refund=refund, approver=approver)
    return refund_mark_succeeded(
        refund=refund, provider_refund_id=f"re_{refund.pk}", occurred_at=at or timezone.now()
    )


def disputed(
    payment: Payment, amount: int, *, status: str = "needs_response", key: str = "dp_1"
) -> Dispute:
    return dispute_apply_fact(
        payment=payment,
        provider=payment.provider,
        provider_dispute_id=key,
        status=status,
        amount=amount,
        currency=payment.currency,
        reason="fraudulent",
        occurred_at=timezone.now(),
    )


def lines_of(entry: JournalEntry) -> list[tuple[str, int, int]]:
    """(role, debit, credit) per line, in posting order."""
    return [(x.account_role, x.debit, x.credit) for x in entry.lines.order_by("id")]


def balance(role: str, **filters: object) -> int:
    """Debits less credits of ``role`` over the entries matching ``filters``."""
    from django.db.models import Sum

    from accounting.models import JournalLine

    sums = JournalLine.objects.filter(
        account_role=role, **{f"entry__{k}": v for k, v in filters.items()}
    ).aggregate(d=Sum("debit"), c=Sum("credit"))
    return int(sums["d"] or 0) - int(sums["c"] or 0)
