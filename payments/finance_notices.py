"""E-mails about what needs a person: to the finance group, a dispute opened or a reconciliation
exception that is news; to a refund's requester, the decision on it. Sent once per domain event by
its Delivery row; a failed send raises and is retried (nothing was sent then)."""

from __future__ import annotations

from functools import partial

from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from integrations.money import format_money
from payments.disputes import NOTIFY_FINANCE_KINDS
from payments.models import Dispute, ReconciliationException, Refund
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


def dispute_evidence_remind_finance(*, dispute: Dispute, days: int) -> None:
    """An e-mail to the finance group: the dispute's evidence is due in ``days`` days and has
    not been submitted. Raises when the send fails (the caller keeps no record then)."""
    recipients = finance_emails()
    if not recipients:
        return
    assert dispute.evidence_due_by is not None
    due = dispute.evidence_due_by.strftime("%Y-%m-%d %H:%M UTC")
    order = dispute.payment.order.number
    left = "1 day" if days == 1 else f"{days} days"
    send_mail(
        subject=f"Dispute evidence due in {left} on {order} ({due})",
        message=(
            f"The evidence for dispute {dispute.provider_dispute_id} on order {order} "
            f"({format_money(dispute.amount, dispute.currency)}) is due {due} and has not been "
            f"submitted to {dispute.provider}.\n\n"
            f"Assemble and submit it: {dispute.get_absolute_url()}\n"
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


REFUND_DECISIONS = {"refund.approved": "approved", "refund.rejected": "rejected"}
"""The events that decide a refund, and the word the requester's e-mail uses."""


def refund_notify_requester(*, refund_id: int | str, event_id: int, event_type: str) -> None:
    """One e-mail to the staff user who requested a refund, once it is decided (``event_type``
    ``refund.approved`` or ``refund.rejected``): the refund, its order, the amount, the decision,
    who decided and, for a rejection, the reason. A first of two approvals is no decision and
    sends nothing. Sent after the transaction commits, once per event (``event_id``): the refund
    keeps the id of the event already told (``requester_notified_event_id``), so a redelivery
    sends nothing; a send that fails clears it again and raises, so the retry sends it."""
    decision = REFUND_DECISIONS.get(event_type)
    if decision is None:
        return
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update(of=("self",))
            .select_related("payment__order", "requested_by", "decided_by")
            .filter(pk=refund_id)
            .first()
        )
        if refund is None or refund.requester_notified_event_id == event_id:
            return
        recipient = refund.requested_by.email
        if not recipient:
            return
        Refund.objects.filter(pk=refund.pk).update(requester_notified_event_id=event_id)
        transaction.on_commit(
            partial(_send_refund_decision, refund=refund, decision=decision, event_id=event_id)
        )


def _send_refund_decision(*, refund: Refund, decision: str, event_id: int) -> None:
    order = refund.payment.order.number
    amount = format_money(refund.amount, refund.currency)
    decider = refund.decided_by
    decided_by = (decider.get_full_name() or decider.get_username()) if decider else "-"
    lines = [
        f"Your refund request {refund} on order {order} for {amount} was "
        f"{decision} by {decided_by}.",
        "",
        f"Refund: {refund}",
        f"Order: {order}",
        f"Amount: {amount}",
        f"Decision: {decision.capitalize()}",
        f"Decided by: {decided_by}",
    ]
    if decision == "rejected":
        lines.append(f"Reason: {refund.rejection_reason or '-'}")
    lines.append(f"Admin: {refund.get_absolute_url()}")
    try:
        send_mail(
            subject=f"{refund} on {order} {decision}: {amount}",
            message="\n".join(lines) + "\n",
            from_email=None,
            recipient_list=[refund.requested_by.email],
        )
    except Exception:
        # Not sent: the retry of this delivery must send it.
        Refund.objects.filter(pk=refund.pk, requester_notified_event_id=event_id).update(
            requester_notified_event_id=None
        )
        raise
