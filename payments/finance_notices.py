"""E-mails to the finance group about what needs a person: a dispute opened, a reconciliation
exception that is news. Sent once per domain event by its Delivery row; a failed send raises and
is retried (nothing was sent then)."""

from __future__ import annotations

from django.core.mail import send_mail
from django.urls import reverse

from payments.disputes import NOTIFY_FINANCE_KINDS
from payments.models import Dispute, ReconciliationException
from payments.selectors import finance_emails


def dispute_notify_finance(*, dispute_id: int | str, summary: str) -> None:
    """One e-mail to the finance group about a dispute just opened: ``summary`` (the event's
    timeline line), the provider's id, status, evidence due date and the admin page. Nothing is
    sent when finance has no address or the dispute is gone."""
    recipients = finance_emails()
    if not recipients:
        return
    dispute = Dispute.objects.select_related("payment__order").filter(pk=dispute_id).first()
    if dispute is None:
        return
    due = dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC") if dispute.evidence_due_by else "-"
    send_mail(
        subject=f"Dispute opened on {dispute.payment.order.number}: evidence due {due}",
        message=(
            f"{summary}\n\n"
            f"Provider: {dispute.provider} ({dispute.provider_dispute_id})\n"
            f"Status: {dispute.get_status_display()}\n"
            f"Evidence due: {due}\n"
            f"Order {dispute.payment.order.number} has been flagged.\n"
            f"Admin: {dispute.get_absolute_url()}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


def reconciliation_notify_finance(*, exception_id: int | str | None) -> None:
    """One e-mail to the finance group about a reconciliation exception of a kind that is news
    (``NOTIFY_FINANCE_KINDS``: a fact contradicting a final status, money taken on a cancelled
    order); the other kinds wait on the list."""
    if exception_id is None:
        return
    exception = (
        ReconciliationException.objects.select_related("payment__order")
        .filter(pk=exception_id)
        .first()
    )
    if exception is None or exception.kind not in NOTIFY_FINANCE_KINDS:
        return
    recipients = finance_emails()
    if not recipients:
        return
    order = exception.payment.order.number if exception.payment else "-"
    send_mail(
        subject=f"Reconciliation: {exception.get_kind_display()} on {order}",
        message=(
            f"{exception.detail}\n\n"
            f"Provider: {exception.provider} ({exception.provider_object_id or '-'})\n"
            f"Order: {order}\n"
            f"Admin: {exception_admin_url(exception)}\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


def exception_admin_url(exception: ReconciliationException) -> str:
    return reverse("admin:payments_reconciliationexception_change", args=[exception.pk])
