"""Finance's exception queue (issue 15 item 4): resolving reconciliation exceptions.

Each exception ends resolved with a reason: a manual match (``settlement_match_manual``), a
write-off to an account of ``settings.WRITE_OFF_ACCOUNTS``, a refund due (a refund request through
``refund_request``) or another reason told in a note. A write-off above
``settings.RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD`` (minor units, any currency) waits
(``awaiting_approval``) for a second, different finance user, who approves it (with a fresh
re-authentication) or sends it back to open with a reason.

Every step is audited; an exception that ends resolved records
``reconciliation.exception_resolved`` (the journal posts write-offs from it). Each service locks
the exception's row, so two clicks at once give one resolution; each raises a
ReconciliationNotAllowed subclass and writes nothing when refused."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.access.audit import audit_record
from accounts.access.reauth import reauth_is_fresh_at, reauth_max_age
from integrations.events import record_event
from integrations.money import format_money
from integrations.transitions import lock
from payments.events import ReconciliationResolvedPayload
from payments.exceptions import (
    ReconciliationNotAllowed,
    WriteOffNeedsSecondApprover,
    WriteOffReauthenticationRequired,
)
from payments.models import ReconciliationException, RefundReason
from payments.services import refund_request
from payments.settlements.matches import settlement_match_manual

log = structlog.get_logger(__name__)

RESOLVE_PERMISSION = "payments.change_reconciliationexception"
Status = ReconciliationException.Status
Resolution = ReconciliationException.Resolution


def write_off_accounts() -> list[tuple[str, str]]:
    """The accounts a write-off may go to, ``(code, name)``, from the settings."""
    return [(str(code), str(name)) for code, name in settings.WRITE_OFF_ACCOUNTS]


def write_off_threshold() -> int:
    return int(settings.RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD)


def write_off_needs_approval(amount: int) -> bool:
    """Whether writing off ``amount`` (minor units) needs a second finance user."""
    return abs(amount) > write_off_threshold()


def reconciliation_may_resolve(*, user: Any) -> bool:
    """Whether ``user``'s role resolves exceptions and decides on write-offs (finance, admin).
    The admin's views check it; the services, like the refund decisions, trust their caller."""
    return bool(user.has_perm(RESOLVE_PERMISSION))


def _lock_open(exception: ReconciliationException) -> ReconciliationException:
    exception = lock(exception, "payment__order__customer")
    if exception.status == Status.RESOLVED:
        raise ReconciliationNotAllowed(f"Exception {exception.pk} is already resolved.")
    if exception.status != Status.OPEN:
        raise ReconciliationNotAllowed(
            f"Exception {exception.pk} has a write-off awaiting a second finance user's approval."
        )
    return exception


def _note(note: str, what: str) -> str:
    if not note.strip():
        raise ReconciliationNotAllowed(f"{what} needs a note saying what was found.")
    return note.strip()


def _finish(
    exception: ReconciliationException,
    *,
    user: Any,
    resolution: str,
    note: str,
    amount: int | None,
    previous: str,
    extra_fields: Sequence[str] = (),
    audit_action: str = "reconciliation_resolved",
    audit_changes: dict[str, Any] | None = None,
) -> ReconciliationException:
    """Mark the locked ``exception`` resolved; audit it and record the resolved event."""
    exception.status = Status.RESOLVED
    exception.resolution = resolution
    exception.resolved_by_id = user.pk
    exception.resolved_at = timezone.now()
    exception.resolution_note = note
    exception.save(
        update_fields=[
            "status",
            "resolution",
            "resolved_by",
            "resolved_at",
            "resolution_note",
            *extra_fields,
        ]
    )
    audit_record(
        action=audit_action,
        actor=user,
        obj=exception,
        changes={
            "status": [previous, exception.status],
            "resolution": [None, resolution],
            **(audit_changes or {}),
        },
        summary=note,
    )
    payment = exception.payment
    record_event(
        type="reconciliation.exception_resolved",
        customer=payment.order.customer if payment is not None else None,
        subject=exception,
        actor=user,
        data=ReconciliationResolvedPayload(
            exception_id=exception.pk,
            kind=exception.kind,
            resolution=resolution,
            account=exception.write_off_account,
            amount=amount,
            currency=exception.currency,
            provider=exception.provider,
        ),
    )
    log.info(
        "reconciliation.resolved",
        exception_id=exception.pk,
        resolution=resolution,
        user_id=user.pk,
    )
    return exception


def reconciliation_resolve(
    *, exception: ReconciliationException, user: Any, note: str
) -> ReconciliationException:
    """Close an open exception with ``user``'s note on what was done (resolution ``other``).

    Raises ReconciliationNotAllowed (nothing changed) without a note or when it is not open."""
    note = _note(note, "Resolving a reconciliation exception")
    with transaction.atomic():
        exception = _lock_open(exception)
        return _finish(
            exception,
            user=user,
            resolution=Resolution.OTHER,
            note=note,
            amount=exception.amount,
            previous=Status.OPEN,
        )


def reconciliation_resolve_by_match(
    *,
    exception: ReconciliationException,
    user: Any,
    note: str,
    line_ids: Sequence[int] = (),
    payment_ids: Sequence[int] = (),
    refund_ids: Sequence[int] = (),
    payout_ids: Sequence[int] = (),
) -> ReconciliationException:
    """Match the given settlement lines, payments, refunds and payouts by hand
    (``settlement_match_manual``), link the match and resolve the exception, in one transaction.

    Raises MatchNotAllowed (an item already matched, fewer than two items) or
    ReconciliationNotAllowed; nothing is written then."""
    note = _note(note, "A manual match")
    with transaction.atomic():
        exception = _lock_open(exception)
        match = settlement_match_manual(
            user=user,
            note=note,
            line_ids=line_ids,
            payment_ids=payment_ids,
            refund_ids=refund_ids,
            payout_ids=payout_ids,
        )
        exception.match = match
        return _finish(
            exception,
            user=user,
            resolution=Resolution.MANUAL_MATCH,
            note=note,
            amount=exception.amount,
            previous=Status.OPEN,
            extra_fields=["match"],
            audit_changes={"match": [None, match.pk]},
        )


def reconciliation_write_off(
    *,
    exception: ReconciliationException,
    user: Any,
    account: str,
    amount: int,
    note: str,
    currency: str = "",
) -> ReconciliationException:
    """Write ``amount`` (minor units, positive) of the exception's currency off to ``account``.

    At or below the approval threshold the exception is resolved at once; above it the write-off
    is proposed and waits (``awaiting_approval``) for ``reconciliation_write_off_approve`` by
    another finance user. ``currency`` is used only when the exception has none of its own.
    Raises ReconciliationNotAllowed for an unknown account, an amount that is not positive, no
    currency or no note, or an exception that is not open."""
    note = _note(note, "A write-off")
    accounts = dict(write_off_accounts())
    if account not in accounts:
        raise ReconciliationNotAllowed(f"Unknown write-off account {account!r}.")
    if amount <= 0:
        raise ReconciliationNotAllowed("A write-off amount must be positive.")
    with transaction.atomic():
        exception = _lock_open(exception)
        if not exception.currency:
            exception.currency = (currency or _known_currency(exception)).upper()
        if not exception.currency:
            raise ReconciliationNotAllowed("Say the write-off's currency.")
        exception.write_off_account = account
        exception.write_off_amount = amount
        exception.rejection_reason = ""
        money = format_money(amount, exception.currency)
        changes = {"write_off": [None, f"{money} to {account} {accounts[account]}"]}
        fields = ["currency", "write_off_account", "write_off_amount", "rejection_reason"]
        if not write_off_needs_approval(amount):
            return _finish(
                exception,
                user=user,
                resolution=Resolution.WRITE_OFF,
                note=note,
                amount=amount,
                previous=Status.OPEN,
                extra_fields=fields,
                audit_changes=changes,
            )
        exception.status = Status.AWAITING_APPROVAL
        exception.resolution = Resolution.WRITE_OFF
        exception.proposed_by_id = user.pk
        exception.proposed_at = timezone.now()
        exception.resolution_note = note
        exception.save(
            update_fields=[
                *fields,
                "status",
                "resolution",
                "proposed_by",
                "proposed_at",
                "resolution_note",
            ]
        )
        audit_record(
            action="write_off_proposed",
            actor=user,
            obj=exception,
            changes={"status": [Status.OPEN, exception.status], **changes},
            summary=note,
        )
    log.info("reconciliation.write_off_proposed", exception_id=exception.pk, user_id=user.pk)
    return exception


def _known_currency(exception: ReconciliationException) -> str:
    if exception.payment is not None:
        return exception.payment.currency
    line = exception.settlement_line
    return line.currency if line is not None else ""


def _lock_awaiting(exception: ReconciliationException, decider: Any) -> ReconciliationException:
    exception = lock(exception, "payment__order__customer")
    if exception.status != Status.AWAITING_APPROVAL:
        raise ReconciliationNotAllowed(
            f"Exception {exception.pk} has no write-off awaiting approval."
        )
    if exception.proposed_by_id == decider.pk:
        raise WriteOffNeedsSecondApprover(
            "You proposed this write-off; another finance user approves or rejects it."
        )
    return exception


def reconciliation_write_off_approve(
    *,
    exception: ReconciliationException,
    approver: Any,
    reauthenticated_at: datetime | None,
) -> ReconciliationException:
    """Approve a proposed write-off: the exception is resolved by ``approver``. Needs a
    re-authentication (``reauthenticated_at``, the admin session's ``reauth_stamp``) within
    ``SENSITIVE_ACTION_REAUTH_SECONDS``.

    Raises WriteOffNeedsSecondApprover for the proposer, WriteOffReauthenticationRequired
    without a fresh re-authentication, ReconciliationNotAllowed when nothing awaits approval."""
    with transaction.atomic():
        exception = _lock_awaiting(exception, approver)
        if not reauth_is_fresh_at(reauthenticated_at):
            raise WriteOffReauthenticationRequired(
                "Approving a write-off needs you to confirm who you are first (a password or "
                f"SSO login within the last {reauth_max_age()} seconds)."
            )
        exception.approved_by_id = approver.pk
        exception.approved_at = timezone.now()
        return _finish(
            exception,
            user=approver,
            resolution=Resolution.WRITE_OFF,
            note=exception.resolution_note,
            amount=exception.write_off_amount,
            previous=Status.AWAITING_APPROVAL,
            extra_fields=["approved_by", "approved_at"],
            audit_action="write_off_approved",
            audit_changes={"proposed_by": [None, exception.proposed_by_id]},
        )


def reconciliation_write_off_reject(
    *, exception: ReconciliationException, approver: Any, reason: str
) -> ReconciliationException:
    """Send a proposed write-off back: the exception is open again, with ``reason`` kept for
    the next proposal. Raises as ``reconciliation_write_off_approve`` does (bar the
    re-authentication) and ReconciliationNotAllowed without a reason."""
    if not reason.strip():
        raise ReconciliationNotAllowed("Rejecting a write-off needs a reason.")
    with transaction.atomic():
        exception = _lock_awaiting(exception, approver)
        proposal = (
            f"{format_money(exception.write_off_amount or 0, exception.currency)} "
            f"to {exception.write_off_account}"
        )
        exception.status = Status.OPEN
        exception.resolution = ""
        exception.write_off_account = ""
        exception.write_off_amount = None
        exception.proposed_by = None
        exception.proposed_at = None
        exception.resolution_note = ""
        exception.rejection_reason = reason.strip()
        exception.save(
            update_fields=[
                "status",
                "resolution",
                "write_off_account",
                "write_off_amount",
                "proposed_by",
                "proposed_at",
                "resolution_note",
                "rejection_reason",
            ]
        )
        audit_record(
            action="write_off_rejected",
            actor=approver,
            obj=exception,
            changes={
                "status": [Status.AWAITING_APPROVAL, Status.OPEN],
                "write_off": [proposal, None],
            },
            summary=exception.rejection_reason,
        )
    log.info("reconciliation.write_off_rejected", exception_id=exception.pk)
    return exception


def reconciliation_resolve_refund_due(
    *,
    exception: ReconciliationException,
    user: Any,
    note: str,
    amount: int | None = None,
    reason: str = RefundReason.OTHER,
) -> ReconciliationException:
    """Request a refund of ``amount`` (default: everything still refundable) of the exception's
    payment through ``refund_request`` (it then follows the refund approvals) and resolve the
    exception with that refund as its reference, in one transaction.

    Raises ReconciliationNotAllowed without a payment, RefundNotAllowed /
    RefundExceedsPayment as ``refund_request`` does; nothing is written then."""
    note = _note(note, "A refund due")
    with transaction.atomic():
        exception = _lock_open(exception)
        if exception.payment is None:
            raise ReconciliationNotAllowed(
                f"Exception {exception.pk} names no payment to refund; match or write it off."
            )
        refund = refund_request(
            payment=exception.payment,
            requested_by=user,
            reason=reason,
            amount=amount,
            note=f"Reconciliation exception {exception.pk}: {note}",
        )
        exception.refund = refund
        if not exception.currency:
            exception.currency = refund.currency
        return _finish(
            exception,
            user=user,
            resolution=Resolution.REFUND_DUE,
            note=note,
            amount=refund.amount,
            previous=Status.OPEN,
            extra_fields=["refund", "currency"],
            audit_changes={"refund": [None, refund.pk]},
        )
