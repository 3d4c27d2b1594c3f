"""Disputes and reconciliation exceptions told to finance on Slack (``integrations.alerts``),
once per object per window. Finance's e-mail about them is ``payments.finance_notices``'."""

from __future__ import annotations

from integrations.alerts.services import (
    staff_alert_dispute_opened,
    staff_alert_reconciliation_exception,
)
from integrations.money import format_money
from payments.disputes import NOTIFY_FINANCE_KINDS
from payments.finance_notices import exception_admin_url
from payments.models import Dispute, ReconciliationException


def dispute_alert_staff(*, dispute_id: int | str) -> None:
    """A dispute just opened: finance's staff alert (amount, reason, evidence due date)."""
    dispute = Dispute.objects.select_related("payment__order").filter(pk=dispute_id).first()
    if dispute is None:
        return
    order = dispute.payment.order.number
    due = dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC") if dispute.evidence_due_by else "-"
    staff_alert_dispute_opened(
        dispute_id=dispute.pk,
        title=f"Dispute opened on {order}: {format_money(dispute.amount, dispute.currency)}",
        text=(
            f"{dispute.provider} dispute `{dispute.provider_dispute_id}` "
            f"({dispute.reason or 'no reason given'}) on order {order}.\n"
            f"Evidence due: {due}"
        ),
        admin_url=dispute.get_absolute_url(),
    )


def reconciliation_alert_staff(*, exception_id: int | str | None) -> None:
    """A reconciliation exception of a kind that is news (``NOTIFY_FINANCE_KINDS``): finance's
    staff alert; the other kinds wait on the list."""
    if exception_id is None:
        return
    exception = (
        ReconciliationException.objects.select_related("payment__order")
        .filter(pk=exception_id)
        .first()
    )
    if exception is None or exception.kind not in NOTIFY_FINANCE_KINDS:
        return
    order = exception.payment.order.number if exception.payment else "-"
    staff_alert_reconciliation_exception(
        exception_id=exception.pk,
        title=f"Reconciliation: {exception.get_kind_display()} on {order}",
        text=(
            f"{exception.detail}\n"
            f"Provider: {exception.provider} ({exception.provider_object_id or '-'})"
        ),
        admin_url=exception_admin_url(exception),
    )
