"""Staff writes in payments leave an audit log entry, written by the service in the same
transaction: refund requests and reconciliation resolutions (from the service and the admin). A
refused write leaves none."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from accounts.access.roles import sync_roles
from accounts.models import AuditLogEntry
from payments.disputes import reconciliation_flag
from payments.exceptions import ReconciliationNotAllowed, RefundNotAllowed
from payments.models import ReconciliationException, Refund
from payments.reconciliation import reconciliation_resolve
from payments.services import refund_request
from tests.factories import make_paid_payment

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _roles(db: None) -> None:
    sync_roles()


def _entries(action: str) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action=action).order_by("id"))


def _flag() -> ReconciliationException:
    return reconciliation_flag(
        provider="sandbox",
        kind=ReconciliationException.Kind.UNKNOWN_OBJECT,
        detail="refund re_x for no known payment",
        payment=make_paid_payment(),
    )


def test_a_refund_request_is_audited_with_who_what_and_why(support_user):
    payment = make_paid_payment(amount=5_000)

    refund = refund_request(
        payment=payment,
        requested_by=support_user,
        reason="defective",
        amount=2_000,
        note="Arrived broken",
    )

    [entry] = _entries("refund_requested")
    assert entry.actor == support_user
    assert entry.object_type == ContentType.objects.get_for_model(Refund)
    assert entry.object_id == str(refund.pk)
    assert entry.changes == {"amount": [None, 2_000], "reason": [None, "defective"]}
    assert entry.summary == "Arrived broken"


def test_a_refused_refund_request_is_not_audited(support_user):
    payment = make_paid_payment(amount=5_000)

    with pytest.raises(RefundNotAllowed):
        refund_request(payment=payment, requested_by=support_user, reason="other", amount=9_000)

    assert not Refund.objects.exists()
    assert _entries("refund_requested") == []


def test_a_refund_requested_in_the_admin_is_audited_with_the_request_ip(client, support_user):
    payment = make_paid_payment(amount=3_000)
    client.force_login(support_user)

    response = client.post(
        reverse("admin:payments_payment_request_refund", args=[payment.pk]),
        {"amount": "30,00", "reason": "other", "note": "goodwill"},
    )

    assert response.status_code == 302, response.content
    [entry] = _entries("refund_requested")
    assert entry.actor == support_user
    assert entry.object_id == str(Refund.objects.get().pk)
    assert entry.ip == "127.0.0.1"


def test_resolving_a_reconciliation_exception_is_audited(finance_user):
    exception = _flag()

    reconciliation_resolve(exception=exception, user=finance_user, note="Refunded by hand.")

    [entry] = _entries("reconciliation_resolved")
    assert entry.actor == finance_user
    assert entry.object_type == ContentType.objects.get_for_model(ReconciliationException)
    assert entry.object_id == str(exception.pk)
    assert entry.changes == {"status": ["open", "resolved"], "resolution": [None, "other"]}
    assert entry.summary == "Refunded by hand."


def test_a_refused_resolution_is_not_audited(finance_user, other_finance_user):
    exception = _flag()

    with pytest.raises(ReconciliationNotAllowed):
        reconciliation_resolve(exception=exception, user=finance_user, note="  ")
    reconciliation_resolve(exception=exception, user=finance_user, note="done")
    with pytest.raises(ReconciliationNotAllowed):
        reconciliation_resolve(exception=exception, user=other_finance_user, note="again")

    assert [e.actor for e in _entries("reconciliation_resolved")] == [finance_user]


def test_resolving_from_the_admin_action_is_audited(client, finance_user):
    exceptions = [_flag(), _flag()]
    client.force_login(finance_user)

    response = client.post(
        reverse("admin:payments_reconciliationexception_changelist"),
        {
            "action": "resolve_selected",
            "_selected_action": [e.pk for e in exceptions],
            "apply": "1",
            "note": "Matched the bank statement.",
        },
    )

    assert response.status_code == 302, response.content
    entries = _entries("reconciliation_resolved")
    assert sorted(e.object_id for e in entries) == sorted(str(e.pk) for e in exceptions)
    assert {(e.actor, e.summary, e.ip) for e in entries} == {
        (finance_user, "Matched the bank statement.", "127.0.0.1")
    }
