"""Refund approval: one approval up to the threshold, two different finance users above it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from integrations.deliveries.relay import deliver_due
from integrations.exceptions import InvalidTransition
from integrations.models import Delivery, DomainEvent
from payments.exceptions import SelfApprovalForbidden
from payments.models import RefundApproval, RefundStatus
from payments.services import (
    ApprovalAlreadyGiven,
    refund_approvals_needed,
    refund_approve,
    refund_reject,
    refund_request,
)
from tests.factories import events_for, make_paid_payment, make_staff

THRESHOLD = 100_000


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = THRESHOLD


def _request(user, amount: int):
    payment = make_paid_payment(amount=amount)
    return refund_request(payment=payment, requested_by=user, reason="defective")


def test_at_the_threshold_one_approval_approves(support_user, finance_user):
    refund = _request(support_user, THRESHOLD)
    assert refund_approvals_needed(refund=refund) == 1
    refund = refund_approve(refund=refund, approver=finance_user)
    assert refund.status == RefundStatus.APPROVED and refund.decided_by == finance_user
    assert list(refund.approvals.values_list("approver", flat=True)) == [finance_user.pk]
    types = list(events_for(refund).values_list("type", flat=True))
    assert types == ["refund.requested", "refund.approved"]


def test_above_the_threshold_the_second_different_approver_approves(
    support_user, finance_user, other_finance_user
):
    refund = _request(support_user, THRESHOLD + 1)
    assert refund_approvals_needed(refund=refund) == 2

    refund = refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    assert refund.status == RefundStatus.REQUESTED and refund.decided_by is None
    added = DomainEvent.objects.get(type="refund.approval_added")
    assert added.actor == finance_user and added.data["approvals"] == 1
    assert not DomainEvent.objects.filter(type="refund.approved").exists()

    refund = refund_approve(
        refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now()
    )
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED and refund.decided_by == other_finance_user
    assert refund.approvals.count() == 2
    assert DomainEvent.objects.filter(type="refund.approved").count() == 1


def test_the_same_approver_twice_is_refused_and_writes_nothing(support_user, finance_user):
    refund = _request(support_user, THRESHOLD * 2)
    refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    events = DomainEvent.objects.count()
    with pytest.raises(ApprovalAlreadyGiven, match="another finance user"):
        refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert RefundApproval.objects.filter(refund=refund).count() == 1
    assert DomainEvent.objects.count() == events


def test_the_requester_never_counts_as_an_approver(finance_user, other_finance_user):
    refund = _request(finance_user, THRESHOLD * 2)
    with pytest.raises(SelfApprovalForbidden):
        refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    assert not RefundApproval.objects.exists()
    refund_approve(refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now())
    with pytest.raises(SelfApprovalForbidden):
        refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED and refund.approvals.count() == 1


def test_a_decided_refund_takes_no_more_approvals(support_user, finance_user, other_finance_user):
    refund = _request(support_user, 5_000)
    refund_approve(refund=refund, approver=finance_user)
    with pytest.raises(InvalidTransition):
        refund_approve(refund=refund, approver=other_finance_user)
    assert RefundApproval.objects.filter(refund=refund).count() == 1

    rejected = _request(support_user, 5_000)
    refund_reject(refund=rejected, approver=finance_user, reason="Outside the window")
    with pytest.raises(InvalidTransition):
        refund_approve(refund=rejected, approver=other_finance_user)
    assert not RefundApproval.objects.filter(refund=rejected).exists()


def test_a_half_approved_refund_can_still_be_rejected(
    support_user, finance_user, other_finance_user, sandbox_refund_calls
):
    refund = _request(support_user, THRESHOLD * 3)
    refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    refund = refund_reject(refund=refund, approver=other_finance_user, reason="Fraud suspected")
    assert refund.status == RefundStatus.REJECTED
    deliver_due()
    assert len(sandbox_refund_calls) == 0


def test_only_the_final_approval_queues_the_provider_refund(
    support_user, finance_user, other_finance_user, sandbox_refund_calls
):
    refund = _request(support_user, THRESHOLD * 3)
    refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    deliver_due()
    assert len(sandbox_refund_calls) == 0
    assert not Delivery.objects.filter(subscriber="payments.execute_refund").exists()

    refund_approve(refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now())
    deliver_due()
    refund.refresh_from_db()
    assert sandbox_refund_calls.references == [f"refund:{refund.pk}"]
    assert refund.status == RefundStatus.PROCESSING and refund.provider_refund_id


def test_a_fourth_user_cannot_sneak_past_two_approvals(support_user, finance_user):
    second = make_staff("finance3", role="finance")
    third = make_staff("finance4", role="finance")
    refund = _request(support_user, THRESHOLD * 3)
    refund_approve(refund=refund, approver=finance_user, reauthenticated_at=timezone.now())
    refund_approve(refund=refund, approver=second, reauthenticated_at=timezone.now())
    with pytest.raises(InvalidTransition):
        refund_approve(refund=refund, approver=third, reauthenticated_at=timezone.now())
    assert refund.approvals.count() == 2
