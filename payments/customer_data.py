"""The payments' part of a customer's data export and context summary (``accounts.customers``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, OuterRef, Subquery, Sum

from accounts.customers.export import export_rows, register_customer_export_section
from accounts.customers.summary import register_customer_summary_part
from accounts.models import Customer
from payments.models import Dispute, DisputeStatus, Payment, Refund, RefundStatus

OPEN_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PROCESSING)
OPEN_DISPUTE_STATUSES = (DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW)

_PAYMENT_FIELDS = [
    "id",
    "order_id",
    "provider",
    "provider_payment_id",
    "method",
    "status",
    "amount",
    "currency",
    "amount_refunded",
    "failure_reason",
    "created_at",
    "succeeded_at",
    "updated_at",
]
_REFUND_FIELDS = [
    "id",
    "payment_id",
    "amount",
    "currency",
    "reason",
    "note",
    "status",
    "rejection_reason",
    "provider_refund_id",
    "failure_reason",
    "created_at",
    "decided_at",
    "completed_at",
]
_DISPUTE_FIELDS = [
    "id",
    "payment_id",
    "provider",
    "provider_dispute_id",
    "reason",
    "amount",
    "currency",
    "status",
    "evidence_due_by",
    "opened_at",
    "closed_at",
]


def payments_export(customer: Customer) -> list[dict[str, Any]]:
    """Every payment of the customer's orders (no checkout data: it holds provider secrets)."""
    payments = Payment.objects.filter(order__customer=customer).order_by("created_at", "id")
    return export_rows(payments, _PAYMENT_FIELDS)


def refunds_export(customer: Customer) -> list[dict[str, Any]]:
    refunds = Refund.objects.filter(payment__order__customer=customer).order_by("created_at", "id")
    return export_rows(refunds, _REFUND_FIELDS)


def disputes_export(customer: Customer) -> list[dict[str, Any]]:
    disputes = Dispute.objects.filter(payment__order__customer=customer).order_by("opened_at", "id")
    return export_rows(disputes, _DISPUTE_FIELDS)


def _open_disputes(customer: Customer) -> dict[str, Any]:
    """Open disputes' count and amounts per currency (a dispute is in its payment's currency).
    One query that walks the customer's orders and payments by their indexes and probes the
    disputes of each by the payment index; joining from the disputes instead lets SQLite's
    planner scan the whole disputes table whenever its statistics say it is small."""
    open_ = Dispute.objects.filter(
        payment=OuterRef("pk"), status__in=OPEN_DISPUTE_STATUSES
    ).order_by()
    rows = (
        Payment.objects.filter(order__customer=customer)
        .order_by()
        .annotate(
            open_amount=Subquery(
                open_.values("payment").annotate(total=Sum("amount")).values("total")
            ),
            open_count=Subquery(open_.values("payment").annotate(n=Count("id")).values("n")),
        )
        .filter(open_count__gt=0)
        .values_list("currency", "open_amount", "open_count")
    )
    amounts: dict[str, int] = {}
    count = 0
    for currency, amount, n in rows:
        amounts[currency] = amounts.get(currency, 0) + int(amount or 0)
        count += int(n)
    return {
        "count": count,
        "amounts": [{"currency": c, "amount": amounts[c]} for c in sorted(amounts)],
    }


def payments_summary(customer: Customer) -> dict[str, Any]:
    """Payments per status, open refunds and open disputes (counts and amounts per currency).
    Three queries."""
    by_status = {
        row["status"]: row["n"]
        for row in Payment.objects.filter(order__customer=customer)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    }

    def open_totals(queryset: Any) -> dict[str, Any]:
        rows = list(
            queryset.order_by()
            .values("currency")
            .annotate(amount=Sum("amount"), n=Count("id"))
            .order_by("currency")
        )
        return {
            "count": sum(r["n"] for r in rows),
            "amounts": [{"currency": r["currency"], "amount": r["amount"]} for r in rows],
        }

    return {
        "payments_by_status": dict(sorted(by_status.items())),
        "open_refunds": open_totals(
            Refund.objects.filter(
                payment__order__customer=customer, status__in=OPEN_REFUND_STATUSES
            )
        ),
        "open_disputes": _open_disputes(customer),
    }


def register_customer_data() -> None:
    register_customer_export_section("payments", payments_export)
    register_customer_export_section("refunds", refunds_export)
    register_customer_export_section("disputes", disputes_export)
    register_customer_summary_part("payments", payments_summary)
