"""Disputes tell finance once; the reconciliation list is worked with a note."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from integrations.deliveries.relay import deliver_due
from integrations.models import Delivery
from payments.disputes import dispute_apply_fact, reconciliation_flag
from payments.exceptions import ReconciliationNotAllowed
from payments.models import Payment, ReconciliationException
from payments.reconciliation import reconciliation_resolve
from tests.factories import make_paid_payment, make_staff

NOTIFY = "payments.notify_finance_of_dispute"


def _finance_mail() -> list[mail.EmailMessage]:
    """Mail about disputes (customers get their own order and payment mail meanwhile)."""
    return [m for m in mail.outbox if m.subject.startswith("Dispute opened")]


def _open(payment: Payment, dispute_id: str = "sbx_dp_1", status: str = "needs_response"):
    return dispute_apply_fact(
        payment=payment,
        provider="sandbox",
        provider_dispute_id=dispute_id,
        status=status,
        amount=payment.amount,
        currency=payment.currency,
        reason="fraudulent",
        evidence_due_by=timezone.now() + timedelta(days=7),
    )


def test_an_opened_dispute_emails_the_finance_group_once(finance_user, other_finance_user):
    make_staff("support1", role="support")
    no_mail = make_staff("finance_no_mail", role="finance")
    no_mail.email = ""
    no_mail.save(update_fields=["email"])
    make_staff("finance_gone", role="finance", is_active=False)
    payment = make_paid_payment(amount=12_345)
    dispute = _open(payment)

    deliver_due()
    deliver_due()

    assert len(_finance_mail()) == 1
    message = _finance_mail()[0]
    assert sorted(message.to) == sorted([finance_user.email, other_finance_user.email])
    assert payment.order.number in message.subject and "evidence due" in message.subject
    assert "sbx_dp_1" in message.body and dispute.get_absolute_url() in message.body
    assert Delivery.objects.get(subscriber=NOTIFY).status == Delivery.Status.SUCCEEDED


def test_later_facts_on_the_dispute_send_no_more_mail(finance_user):
    payment = make_paid_payment()
    _open(payment)
    deliver_due()
    dispute_apply_fact(
        payment=payment,
        provider="sandbox",
        provider_dispute_id="sbx_dp_1",
        status="under_review",
        amount=payment.amount,
        currency=payment.currency,
        occurred_at=timezone.now() + timedelta(minutes=1),
    )
    _open(payment)  # a redelivered opening fact
    deliver_due()
    assert len(_finance_mail()) == 1
    assert Delivery.objects.filter(subscriber=NOTIFY).count() == 1


def test_without_finance_users_nothing_is_sent_and_the_delivery_succeeds(support_user):
    _open(make_paid_payment())
    deliver_due()
    assert _finance_mail() == []
    assert Delivery.objects.get(subscriber=NOTIFY).status == Delivery.Status.SUCCEEDED


def test_a_failing_mail_server_is_retried_and_sends_once(finance_user, monkeypatch):
    _open(make_paid_payment())

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("payments.finance_notices.send_mail", broken)
    deliver_due()
    delivery = Delivery.objects.get(subscriber=NOTIFY)
    assert delivery.status == Delivery.Status.FAILED and _finance_mail() == []

    monkeypatch.undo()
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    deliver_due()
    assert len(_finance_mail()) == 1


def test_resolving_a_reconciliation_exception_keeps_who_and_why(finance_user):
    exception = reconciliation_flag(
        provider="sandbox",
        kind=ReconciliationException.Kind.UNKNOWN_OBJECT,
        detail="refund re_x for no known payment",
        provider_object_id="re_x",
    )
    resolved = reconciliation_resolve(
        exception=exception, user=finance_user, note="  Refunded by hand in the dashboard.  "
    )
    resolved.refresh_from_db()
    assert resolved.status == ReconciliationException.Status.RESOLVED
    assert resolved.resolved_by == finance_user and resolved.resolved_at is not None
    assert resolved.resolution_note == "Refunded by hand in the dashboard."


def test_resolving_needs_a_note_and_happens_once(finance_user, other_finance_user):
    exception = reconciliation_flag(
        provider="sandbox", kind=ReconciliationException.Kind.CONFLICTING_FACT, detail="x"
    )
    with pytest.raises(ReconciliationNotAllowed, match="needs a note"):
        reconciliation_resolve(exception=exception, user=finance_user, note="  ")
    exception.refresh_from_db()
    assert exception.status == ReconciliationException.Status.OPEN
    assert exception.resolved_by is None

    reconciliation_resolve(exception=exception, user=finance_user, note="checked")
    with pytest.raises(ReconciliationNotAllowed, match="already resolved"):
        reconciliation_resolve(exception=exception, user=other_finance_user, note="again")
    exception.refresh_from_db()
    assert exception.resolved_by == finance_user and exception.resolution_note == "checked"


# Admin -------------------------------------------------------------------------------------


@pytest.fixture
def roles(db):
    from accounts.access.roles import sync_roles

    sync_roles()


def test_finance_reads_disputes_with_the_flagged_order(client, roles, finance_user):
    payment = make_paid_payment()
    dispute = _open(payment)
    client.force_login(finance_user)

    response = client.get(reverse("admin:payments_dispute_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "sbx_dp_1" in html and "Needs response" in html and "fraudulent" in html
    assert payment.order.get_absolute_url() in html and "flagged" in html
    detail = client.get(reverse("admin:payments_dispute_change", args=[dispute.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert client.get(reverse("admin:payments_dispute_add")).status_code == 403


def test_support_cannot_see_disputes_or_the_reconciliation_list(client, roles, support_user):
    client.force_login(support_user)
    assert client.get(reverse("admin:payments_dispute_changelist")).status_code == 403
    url = reverse("admin:payments_reconciliationexception_changelist")
    assert client.get(url).status_code == 403


def _flag(detail: str) -> ReconciliationException:
    return reconciliation_flag(
        provider="sandbox", kind=ReconciliationException.Kind.UNKNOWN_OBJECT, detail=detail
    )


def test_the_reconciliation_list_shows_open_exceptions_by_default(client, roles, finance_user):
    open_one = _flag("open one")
    closed = _flag("closed one")
    reconciliation_resolve(exception=closed, user=finance_user, note="done")
    client.force_login(finance_user)
    url = reverse("admin:payments_reconciliationexception_changelist")

    assert list(client.get(url).context["cl"].result_list) == [open_one]
    everything = client.get(url, {"status": "all"}).context["cl"].result_list
    assert set(everything) == {open_one, closed}


def test_mark_resolved_action_needs_a_note(client, roles, finance_user):
    exceptions = [_flag("a"), _flag("b")]
    ids = [e.pk for e in exceptions]
    client.force_login(finance_user)
    url = reverse("admin:payments_reconciliationexception_changelist")

    form = client.post(url, {"action": "resolve_selected", "_selected_action": ids})
    assert form.status_code == 200 and b'name="note"' in form.content
    empty = client.post(
        url, {"action": "resolve_selected", "_selected_action": ids, "apply": "1", "note": " "}
    )
    assert empty.status_code == 200 and empty.context["form"].errors["note"]
    assert ReconciliationException.objects.filter(status="open").count() == 2

    done = client.post(
        url,
        {"action": "resolve_selected", "_selected_action": ids, "apply": "1", "note": "Matched"},
    )
    assert done.status_code == 302
    assert set(
        ReconciliationException.objects.values_list("status", "resolved_by", "resolution_note")
    ) == {("resolved", finance_user.pk, "Matched")}


def test_finance_role_reads_disputes_and_works_reconciliation(roles, finance_user, support_user):
    assert finance_user.has_perm("payments.view_dispute")
    assert finance_user.has_perm("payments.view_reconciliationexception")
    assert finance_user.has_perm("payments.change_reconciliationexception")
    assert not finance_user.has_perm("payments.change_dispute")
    assert support_user.has_perm("payments.add_refund")
    assert not support_user.has_perm("payments.approve_refund")
    assert not support_user.has_perm("payments.view_dispute")
