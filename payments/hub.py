"""The order page's payments, refunds and disputes (``orders.hub``), registered by
``PaymentsConfig.ready``. One query each; money in major units with its currency."""

from __future__ import annotations

from django.urls import reverse

from integrations.money import format_money
from orders.hub import HubPart, HubRow, hub_time, register_order_hub_part
from orders.models import Order
from payments.models import Dispute, Payment, Refund


def _payment_rows(order: Order, limit: int) -> list[HubRow]:
    payments = Payment.objects.filter(order=order).order_by("-created_at", "-id")[:limit]
    return [
        HubRow(
            cells=(
                f"Payment #{payment.pk}",
                payment.provider,
                payment.provider_payment_id or "-",
                payment.get_method_display(),
                payment.get_status_display()
                + (f": {payment.failure_reason}" if payment.failure_reason else ""),
                format_money(payment.amount, payment.currency),
                format_money(payment.amount_refunded, payment.currency),
                hub_time(payment.created_at),
            ),
            url=reverse("admin:payments_payment_change", args=[payment.pk]),
            permission="payments.view_payment",
        )
        for payment in payments
    ]


def _refund_rows(order: Order, limit: int) -> list[HubRow]:
    refunds = (
        Refund.objects.filter(payment__order=order)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[:limit]
    )
    return [
        HubRow(
            cells=(
                f"Refund #{refund.pk}",
                f"Payment #{refund.payment_id}",
                format_money(refund.amount, refund.currency),
                refund.get_status_display(),
                refund.get_reason_display(),
                refund.requested_by.get_username(),
                hub_time(refund.created_at),
            ),
            url=reverse("admin:payments_refund_change", args=[refund.pk]),
            permission="payments.view_refund",
        )
        for refund in refunds
    ]


def _dispute_rows(order: Order, limit: int) -> list[HubRow]:
    disputes = Dispute.objects.filter(payment__order=order).order_by("-opened_at", "-id")[:limit]
    return [
        HubRow(
            cells=(
                dispute.provider_dispute_id,
                f"Payment #{dispute.payment_id}",
                format_money(dispute.amount, dispute.currency),
                dispute.get_status_display(),
                dispute.reason or "-",
                hub_time(dispute.evidence_due_by),
                hub_time(dispute.opened_at),
            ),
            url=reverse("admin:payments_dispute_change", args=[dispute.pk]),
            permission="payments.view_dispute",
        )
        for dispute in disputes
    ]


def register_hub_parts() -> None:
    register_order_hub_part(
        HubPart(
            key="payments",
            title="Payments",
            position=10,
            columns=(
                "Payment",
                "Provider",
                "Provider id",
                "Method",
                "Status",
                "Amount",
                "Refunded",
                "Created (UTC)",
            ),
            empty="No payments yet. A payment is started at the provider when the order is "
            "placed; declined and expired ones stay listed here with the provider's reason.",
            rows=_payment_rows,
        )
    )
    register_order_hub_part(
        HubPart(
            key="refunds",
            title="Refunds",
            position=20,
            columns=(
                "Refund",
                "Payment",
                "Amount",
                "Status",
                "Reason",
                "Requested by",
                "Requested (UTC)",
            ),
            empty="No refunds. A refund appears here when support or finance request one from "
            "a payment's page; finance approves it in the refund queue.",
            rows=_refund_rows,
        )
    )
    register_order_hub_part(
        HubPart(
            key="disputes",
            title="Disputes",
            position=30,
            columns=(
                "Dispute",
                "Payment",
                "Amount",
                "Status",
                "Reason",
                "Evidence due (UTC)",
                "Opened (UTC)",
            ),
            empty="No disputes. A dispute appears here when the payment provider reports a "
            "chargeback on one of this order's payments.",
            rows=_dispute_rows,
        )
    )
