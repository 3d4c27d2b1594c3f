"""``refund_approve`` itself refuses an approval above the dual-approval threshold without a
fresh re-authentication (issue 9, item 6), so no caller (admin, API, task) can skip it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.utils import timezone

from accounts.access.reauth import SESSION_KEY, reauth_stamp
from accounts.access.roles import sync_roles
from accounts.models import AuditLogEntry, User
from integrations.models import Delivery, DomainEvent
from payments.exceptions import ReauthenticationRequired, RefundNotAllowed
from payments.models import Refund, RefundApproval, RefundStatus
from payments.refunds import refund_decision_options, refunds_awaiting_reauth
from payments.services import refund_approve, refund_request
from tests.factories import make_paid_payment

THRESHOLD = 100_000
MAX_AGE = 300


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = THRESHOLD
    settings.SENSITIVE_ACTION_REAUTH_SECONDS = MAX_AGE


def _request(user: User, amount: int) -> Refund:
    return refund_request(
        payment=make_paid_payment(amount=amount), requested_by=user, reason="defective"
    )


def _snapshot(refund: Refund) -> tuple[object, ...]:
    refund.refresh_from_db()
    return (
        refund.status,
        refund.updated_at,
        refund.decided_by_id,
        RefundApproval.objects.count(),
        DomainEvent.objects.count(),
        Delivery.objects.count(),
        AuditLogEntry.objects.count(),
    )


@pytest.mark.parametrize(
    "seconds_ago",
    [None, MAX_AGE + 5, 3600, -60],
    ids=["no-stamp", "just-stale", "an-hour-old", "in-the-future"],
)
def test_above_the_threshold_without_a_fresh_stamp_nothing_changes(
    support_user, finance_user, seconds_ago
):
    refund = _request(support_user, THRESHOLD + 1)
    stamp = None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    before = _snapshot(refund)

    with pytest.raises(ReauthenticationRequired, match="confirm who you are"):
        refund_approve(refund=refund, approver=finance_user, reauthenticated_at=stamp)

    assert _snapshot(refund) == before
    assert before[0] == RefundStatus.REQUESTED and before[3] == 0
    assert issubclass(ReauthenticationRequired, RefundNotAllowed)  # the admin shows it


def test_above_the_threshold_a_fresh_stamp_approves(support_user, finance_user, other_finance_user):
    refund = _request(support_user, THRESHOLD * 2)

    refund_approve(
        refund=refund,
        approver=finance_user,
        reauthenticated_at=timezone.now() - timedelta(seconds=MAX_AGE - 30),
    )
    # The second approval needs its own fresh stamp, too.
    with pytest.raises(ReauthenticationRequired):
        refund_approve(refund=refund, approver=other_finance_user)
    refund = refund_approve(
        refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now()
    )

    assert refund.status == RefundStatus.APPROVED and refund.approvals.count() == 2
    assert DomainEvent.objects.filter(type="refund.approved").count() == 1


def test_at_or_below_the_threshold_no_stamp_is_needed(support_user, finance_user):
    refund = refund_approve(refund=_request(support_user, THRESHOLD), approver=finance_user)
    assert refund.status == RefundStatus.APPROVED


def test_other_refusals_come_first_and_still_write_nothing(support_user, finance_user):
    from payments.exceptions import SelfApprovalForbidden

    refund = _request(finance_user, THRESHOLD * 2)
    before = _snapshot(refund)
    with pytest.raises(SelfApprovalForbidden):
        refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    assert _snapshot(refund) == before


def test_the_session_stamp_is_what_the_admin_passes(rf: RequestFactory, settings: Any) -> None:
    request = rf.post("/")
    request.session = SessionStore()
    assert reauth_stamp(request) is None
    for junk in ("yesterday", True, float("nan"), 1e300):
        request.session[SESSION_KEY] = junk
        assert reauth_stamp(request) is None
    request.session[SESSION_KEY] = 1_700_000_000.5
    assert reauth_stamp(request) == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)


def test_the_admin_precheck_agrees_with_the_service(support_user, finance_user):
    small, large = _request(support_user, 5_000), _request(support_user, THRESHOLD * 2)
    stale = timezone.now() - timedelta(seconds=MAX_AGE + 1)
    assert not refunds_awaiting_reauth(refunds=[small], reauthenticated_at=None)
    assert refunds_awaiting_reauth(refunds=[small, large], reauthenticated_at=stale)
    assert not refunds_awaiting_reauth(refunds=[large], reauthenticated_at=timezone.now())


def test_the_decision_options_follow_the_rules(support_user, finance_user, other_finance_user):
    sync_roles()  # the groups' permissions: finance decides, support does not
    refund = _request(support_user, THRESHOLD * 2)
    options = refund_decision_options(refund=refund, user=finance_user, approvals=[])
    assert (options.can_approve, options.can_reject, options.note) == (True, True, "")
    assert not refund_decision_options(refund=refund, user=support_user, approvals=[]).can_reject

    refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    approvals = list(refund.approvals.all())
    first = refund_decision_options(refund=refund, user=finance_user, approvals=approvals)
    assert (first.can_approve, first.can_reject) == (False, True)
    assert "second finance user" in first.note
    second = refund_decision_options(refund=refund, user=other_finance_user, approvals=approvals)
    assert second.can_approve

    own = _request(finance_user, 5_000)
    mine = refund_decision_options(refund=own, user=finance_user, approvals=[])
    assert (mine.can_approve, mine.can_reject) == (False, False)
    assert "Your own request" in mine.note
