"""Work queues that fit the job (issue 11, item 7): finance's "needs my approval" view of the
refund queue, and the requester told of the decision once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.access.roles import sync_roles
from integrations.deliveries.relay import delivery_run
from integrations.models import Delivery
from payments.models import Refund
from payments.selectors import refunds_awaiting_decision_by
from payments.services import refund_approve, refund_reject, refund_request
from tests.factories import make_paid_payment

CHANGELIST = reverse("admin:payments_refund_changelist")
NOTICE = "payments.notify_requester_of_refund_decision"
THRESHOLD = 100_000


@pytest.fixture(autouse=True)
def _roles(db: None, settings: Any) -> None:
    sync_roles()
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = THRESHOLD


def _request(user, amount: int = 5_000) -> Refund:
    return refund_request(
        payment=make_paid_payment(amount=amount), requested_by=user, reason="defective"
    )


def _approve(refund: Refund, user) -> Refund:
    return refund_approve(refund=refund, approver=user, reauthenticated_at=timezone.now())


# Needs my approval ---------------------------------------------------------------------------


def test_needs_my_approval_lists_what_the_second_finance_user_may_decide(
    client, support_user, finance_user, other_finance_user
):
    me = other_finance_user
    waiting = _request(support_user)
    mine = _request(me)  # my own request: another finance user decides it
    approved_by_me = _approve(_request(support_user, THRESHOLD + 1), me)
    needs_a_second = _approve(_request(support_user, THRESHOLD + 2), finance_user)
    refund_reject(refund=_request(support_user), approver=finance_user, reason="no")
    _approve(_request(support_user), finance_user)  # decided: approved
    client.force_login(me)

    response = client.get(CHANGELIST, {"mine": "needs_approval"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [waiting, needs_a_second]
    assert "Needs my approval" in response.content.decode()
    assert approved_by_me.status == "requested"
    # Whatever the status filter says, only requests are decidable.
    everything = client.get(CHANGELIST, {"mine": "needs_approval", "status": "all"})
    assert list(everything.context["cl"].result_list) == [waiting, needs_a_second]
    # The other finance user's queue: my request and my approval's, not their own approval's.
    assert list(refunds_awaiting_decision_by(user=finance_user).order_by("id")) == [
        waiting,
        mine,
        approved_by_me,
    ]


def test_needs_my_approval_is_empty_for_a_role_that_does_not_decide(client, support_user):
    _request(support_user)
    assert not refunds_awaiting_decision_by(user=support_user).exists()


# The requester is told -----------------------------------------------------------------------


def _run_notice(refund: Refund, django_capture_on_commit_callbacks) -> Delivery:
    delivery = Delivery.objects.get(subscriber=NOTICE, event__subject_id=str(refund.pk))
    with django_capture_on_commit_callbacks(execute=True):
        return delivery_run(delivery_id=delivery.pk)


def _to(user) -> list[Any]:
    return [m for m in mail.outbox if m.to == [user.email]]


def test_the_requester_gets_one_email_when_approved(
    support_user, finance_user, django_capture_on_commit_callbacks
):
    refund = _approve(_request(support_user, 1_000), finance_user)

    delivery = _run_notice(refund, django_capture_on_commit_callbacks)

    assert delivery.status == Delivery.Status.SUCCEEDED
    (email,) = _to(support_user)
    order = refund.payment.order.number
    assert order in email.subject and "approved" in email.subject
    assert f"Refund: {refund}" in email.body and f"Order: {order}" in email.body
    assert "Amount: R$ 10,00" in email.body
    assert "Decision: Approved" in email.body
    assert f"Decided by: {finance_user.get_username()}" in email.body

    # A repeated delivery (a stale claim taken over, a replay) sends nothing more.
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED)
    again = _run_notice(refund, django_capture_on_commit_callbacks)
    assert again.status == Delivery.Status.SUCCEEDED
    assert len(_to(support_user)) == 1


def test_the_requester_gets_one_email_when_rejected_with_the_reason(
    support_user, finance_user, django_capture_on_commit_callbacks
):
    refund = refund_reject(
        refund=_request(support_user), approver=finance_user, reason="Item not returned"
    )

    _run_notice(refund, django_capture_on_commit_callbacks)
    _run_notice(refund, django_capture_on_commit_callbacks)

    (email,) = _to(support_user)
    assert "rejected" in email.subject
    assert "Decision: Rejected" in email.body
    assert "Reason: Item not returned" in email.body
    assert "Amount: R$ 50,00" in email.body


def test_a_first_of_two_approvals_tells_nobody_the_second_does(
    support_user, finance_user, other_finance_user, django_capture_on_commit_callbacks
):
    refund = _approve(_request(support_user, THRESHOLD + 1), finance_user)
    assert not Delivery.objects.filter(subscriber=NOTICE).exists()

    refund = _approve(refund, other_finance_user)
    _run_notice(refund, django_capture_on_commit_callbacks)

    (email,) = _to(support_user)
    assert f"Decided by: {other_finance_user.get_username()}" in email.body
