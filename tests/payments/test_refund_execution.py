"""Executing approved refunds at the provider: once, however approvals race, and never lost
while the provider is down."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from integrations.deliveries.relay import deliver_due
from integrations.exceptions import InvalidTransition
from integrations.models import Delivery, DomainEvent
from payments.models import RefundStatus
from payments.services import (
    ApprovalAlreadyGiven,
    refund_approve,
    refund_mark_succeeded,
    refund_request,
)
from tests.factories import make_paid_payment

JOIN_TIMEOUT = 30
EXECUTE = "payments.execute_refund"


def _at_once(*targets: Callable[[], Any]) -> list[Any]:
    """Run each target in its own thread (own database connection), started together."""
    start = threading.Barrier(len(targets))
    results: list[Any] = [None] * len(targets)

    def run(index: int, target: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            results[index] = target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            results[index] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=run, args=(i, t), daemon=True) for i, t in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_approvals_clicked_at_once_give_one_transition_and_one_provider_refund(
    settings, support_user, finance_user, other_finance_user, sandbox_refund_calls
):
    settings.SANDBOX_SEND_WEBHOOKS = False
    refund = refund_request(
        payment=make_paid_payment(amount=5_000), requested_by=support_user, reason="defective"
    )

    results = _at_once(
        lambda: refund_approve(refund=refund, approver=finance_user),
        lambda: refund_approve(refund=refund, approver=other_finance_user),
    )
    deliver_due()
    deliver_due()

    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], InvalidTransition), results
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING and refund.provider_refund_id
    assert refund.approvals.count() == 1
    assert DomainEvent.objects.filter(type="refund.approved").count() == 1
    assert sandbox_refund_calls.references == [f"refund:{refund.pk}"]
    assert Delivery.objects.filter(subscriber=EXECUTE).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_finance_users_approving_a_large_refund_at_once_approve_it_once(
    settings, support_user, finance_user, other_finance_user, sandbox_refund_calls
):
    settings.SANDBOX_SEND_WEBHOOKS = False
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = 1_000
    refund = refund_request(
        payment=make_paid_payment(amount=50_000), requested_by=support_user, reason="defective"
    )

    results = _at_once(
        lambda: refund_approve(
            refund=refund, approver=finance_user, reauthenticated_at=timezone.now()
        ),
        lambda: refund_approve(
            refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now()
        ),
    )
    deliver_due()

    assert not [r for r in results if isinstance(r, BaseException)], results
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert refund.approvals.count() == 2
    assert DomainEvent.objects.filter(type="refund.approval_added").count() == 1
    assert DomainEvent.objects.filter(type="refund.approved").count() == 1
    assert len(sandbox_refund_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_click_by_one_approver_records_one_approval(
    settings, support_user, finance_user, sandbox_refund_calls
):
    settings.SANDBOX_SEND_WEBHOOKS = False
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = 1_000
    refund = refund_request(
        payment=make_paid_payment(amount=50_000), requested_by=support_user, reason="defective"
    )

    results = _at_once(
        lambda: refund_approve(
            refund=refund, approver=finance_user, reauthenticated_at=timezone.now()
        ),
        lambda: refund_approve(
            refund=refund, approver=finance_user, reauthenticated_at=timezone.now()
        ),
    )
    deliver_due()

    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ApprovalAlreadyGiven), results
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED and refund.approvals.count() == 1
    assert len(sandbox_refund_calls) == 0


@pytest.mark.django_db
def test_while_the_provider_is_down_the_approved_refund_waits_and_completes_once_back(
    settings, support_user, finance_user, sandbox_refund_calls
):
    settings.SANDBOX_SEND_WEBHOOKS = False
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0
    payment = make_paid_payment(amount=7_000)
    refund = refund_request(payment=payment, requested_by=support_user, reason="not_received")
    refund_approve(refund=refund, approver=finance_user)

    deliver_due()
    delivery = Delivery.objects.get(subscriber=EXECUTE)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED and refund.provider_refund_id == ""
    assert delivery.status == Delivery.Status.FAILED
    assert "ProviderUnavailable" in delivery.last_error
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > timezone.now()
    assert (sandbox_refund_calls.attempts, len(sandbox_refund_calls)) == (1, 0)

    assert deliver_due() == 0  # backing off: not retried before its time
    assert sandbox_refund_calls.attempts == 1

    settings.SANDBOX_CHAOS_FAILURE_RATE = 0.0
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    deliver_due()
    delivery.refresh_from_db()
    refund.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 2
    assert refund.status == RefundStatus.PROCESSING and refund.provider_refund_id.startswith(
        "sbx_re_"
    )

    refund_mark_succeeded(refund=refund, provider_refund_id=refund.provider_refund_id)
    deliver_due()
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 7_000
    assert sandbox_refund_calls.references == [f"refund:{refund.pk}"]
