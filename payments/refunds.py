"""Refund decision rules, in one place for the admin, the API and the services: who may decide,
how many approvals a refund needs, that nobody decides their own request, and when an approval
needs a fresh re-authentication. Reads only; the writes are in ``payments.services``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from accounts.access.reauth import reauth_is_fresh_at, reauth_max_age
from accounts.models import User
from payments.exceptions import ReauthenticationRequired, SelfApprovalForbidden
from payments.models import Refund, RefundApproval, RefundStatus

APPROVE_PERMISSION = "payments.approve_refund"


def refund_may_decide(*, user: User | AnonymousUser) -> bool:
    """Whether ``user``'s role approves and rejects refunds (finance, admin)."""
    return user.has_perm(APPROVE_PERMISSION)


def refund_approvals_needed(*, refund: Refund) -> int:
    """Approvals a refund needs: two different finance users above
    ``REFUND_DUAL_APPROVAL_THRESHOLD`` (minor units), otherwise one."""
    return 2 if refund.amount > settings.REFUND_DUAL_APPROVAL_THRESHOLD else 1


def refund_needs_reauth(*, refund: Refund) -> bool:
    """Whether approving ``refund`` needs a fresh re-authentication: above the dual-approval
    threshold, for each of its approvals."""
    return refund_approvals_needed(refund=refund) > 1


def refunds_awaiting_reauth(
    *, refunds: Iterable[Refund], reauthenticated_at: datetime | None
) -> bool:
    """Whether approving any of ``refunds`` would be refused for want of a re-authentication
    within ``SENSITIVE_ACTION_REAUTH_SECONDS`` of now."""
    return not reauth_is_fresh_at(reauthenticated_at) and any(
        refund_needs_reauth(refund=refund) for refund in refunds
    )


def refund_ensure_reauthenticated(*, refund: Refund, reauthenticated_at: datetime | None) -> None:
    """Raises ReauthenticationRequired when approving ``refund`` needs a fresh re-authentication
    and ``reauthenticated_at`` is missing, too old or in the future."""
    if refunds_awaiting_reauth(refunds=[refund], reauthenticated_at=reauthenticated_at):
        raise ReauthenticationRequired(
            f"Approving {refund}, above the dual-approval threshold, needs you to confirm who "
            "you are first (a password or SSO login within the last "
            f"{reauth_max_age()} seconds)."
        )


def refund_ensure_not_own(*, refund: Refund, decider: User) -> None:
    """Raises SelfApprovalForbidden when ``decider`` requested ``refund``."""
    if refund.requested_by_id == decider.pk:
        raise SelfApprovalForbidden("Nobody approves or rejects their own refund request.")


@dataclass(frozen=True)
class RefundDecisionOptions:
    """What ``user`` may do with a refund now, and why not when they may not."""

    can_approve: bool
    can_reject: bool
    note: str


def refund_decision_options(
    *, refund: Refund, user: User | AnonymousUser, approvals: Iterable[RefundApproval]
) -> RefundDecisionOptions:
    """The buttons a refund's page offers ``user``: none without the role or once decided;
    reject but not approve for whoever gave the first of two approvals; neither for the
    requester. ``approvals`` are the refund's approvals so far (already loaded)."""
    may_decide = refund_may_decide(user=user) and refund.status == RefundStatus.REQUESTED
    own = refund.requested_by_id == user.pk
    approved_already = any(approval.approver_id == user.pk for approval in approvals)
    note = ""
    if may_decide and own:
        note = "Your own request: another finance user decides on it."
    elif may_decide and approved_already:
        note = "You approved it; it waits for a second finance user."
    return RefundDecisionOptions(
        can_approve=may_decide and not own and not approved_already,
        can_reject=may_decide and not own,
        note=note,
    )
