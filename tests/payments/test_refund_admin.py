"""Finance's refund queue in the admin: the same services behind actions and buttons."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.access.roles import sync_roles
from integrations.models import DomainEvent
from payments.models import Refund, RefundApproval, RefundStatus
from payments.services import refund_approve, refund_reject, refund_request
from tests.factories import make_paid_payment, make_staff

CHANGELIST = reverse("admin:payments_refund_changelist")


@pytest.fixture(autouse=True)
def _roles(db: None, settings: Any) -> None:
    sync_roles()
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = 100_000


def _request(user, amount: int = 5_000, **kw: Any) -> Refund:
    return refund_request(
        payment=make_paid_payment(amount=amount, **kw), requested_by=user, reason="defective"
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _change_url(refund: Refund) -> str:
    return reverse("admin:payments_refund_change", args=[refund.pk])


# The queue ---------------------------------------------------------------------------------


def test_the_queue_defaults_to_pending_requests_with_what_finance_needs(
    client, support_user, finance_user
):
    pending = _request(support_user, amount=123_456)
    decided = _request(support_user, amount=2_000)
    refund_reject(refund=decided, approver=finance_user, reason="no")
    client.force_login(finance_user)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [pending]
    html = response.content.decode()
    assert "R$ 1.234,56" in html
    assert pending.payment.order.number in html
    assert str(pending.payment.order.customer) in html
    assert "Product defective" in html
    assert str(support_user) in html
    assert "0 of 2" in html  # above the threshold: two approvals needed, none yet
    assert " min" in html  # age

    everything = client.get(CHANGELIST, {"status": "all"})
    assert set(everything.context["cl"].result_list) == {pending, decided}
    rejected = client.get(CHANGELIST, {"status": "rejected"})
    assert list(rejected.context["cl"].result_list) == [decided]


def test_the_queue_runs_a_bounded_number_of_queries(
    client, support_user, finance_user, django_assert_max_num_queries
):
    client.force_login(finance_user)
    for _ in range(3):
        _request(support_user)
    with django_assert_max_num_queries(12) as few:  # session, user, perms, count, rows
        assert client.get(CHANGELIST).status_code == 200
    for _ in range(12):
        _request(support_user, amount=200_000)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 15


# Approve -----------------------------------------------------------------------------------


def test_the_approve_button_approves_through_the_service(client, support_user, finance_user):
    refund = _request(support_user)
    client.force_login(finance_user)
    page = client.get(_change_url(refund))
    assert b'id="refund-approve"' in page.content and b'id="refund-reject"' in page.content

    response = client.post(reverse("admin:payments_refund_approve", args=[refund.pk]))

    assert response.status_code == 302 and response.url == _change_url(refund)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED and refund.decided_by == finance_user
    assert any("approved" in m for m in _messages(response))


def test_a_large_refund_needs_two_finance_users_in_the_admin(
    client, support_user, finance_user, other_finance_user
):
    refund = _request(support_user, amount=150_000)
    client.force_login(finance_user)
    first = client.post(reverse("admin:payments_refund_approve", args=[refund.pk]))
    assert any("second finance user" in m for m in _messages(first))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert b"1 of 2" in client.get(CHANGELIST).content

    again = client.post(reverse("admin:payments_refund_approve", args=[refund.pk]))
    assert again.status_code == 302
    assert any("already approved" in m for m in _messages(again))
    assert refund.approvals.count() == 1

    client.force_login(other_finance_user)
    client.post(reverse("admin:payments_refund_approve", args=[refund.pk]))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED and refund.approvals.count() == 2


def test_approving_ones_own_request_is_an_admin_message_not_an_error(client, finance_user):
    refund = _request(finance_user)
    client.force_login(finance_user)
    response = client.post(reverse("admin:payments_refund_approve", args=[refund.pk]))
    assert response.status_code == 302
    assert any("own refund request" in m for m in _messages(response))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert not RefundApproval.objects.exists()


def test_approving_a_decided_refund_is_an_admin_message(
    client, support_user, finance_user, other_finance_user
):
    refund = _request(support_user)
    refund_approve(refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now())
    client.force_login(finance_user)
    response = client.post(reverse("admin:payments_refund_approve", args=[refund.pk]))
    assert response.status_code == 302
    assert any("cannot go from 'approved'" in m for m in _messages(response))
    page = client.get(_change_url(refund))
    assert b'id="refund-approve"' not in page.content


def test_support_can_neither_see_nor_use_approve_and_reject(client, support_user, finance_user):
    refund = _request(finance_user)
    client.force_login(support_user)

    page = client.get(_change_url(refund))
    assert page.status_code == 200
    assert b'id="refund-approve"' not in page.content
    assert b'id="refund-reject"' not in page.content
    changelist = client.get(CHANGELIST)
    action_form = changelist.context["action_form"]
    actions = dict(action_form.fields["action"].choices) if action_form else {}
    assert "approve_selected" not in actions and "reject_selected" not in actions

    assert (
        client.post(reverse("admin:payments_refund_approve", args=[refund.pk])).status_code == 403
    )
    url = reverse("admin:payments_refund_reject", args=[refund.pk])
    assert client.post(url, {"reason": "no"}).status_code == 403
    forged = client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [refund.pk]}
    )
    assert forged.status_code in (200, 302)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert not RefundApproval.objects.exists()


def test_the_approve_action_approves_each_and_reports_the_refusals(
    client, support_user, finance_user
):
    theirs = _request(support_user)
    mine = _request(finance_user)
    client.force_login(finance_user)
    response = client.post(
        CHANGELIST, {"action": "approve_selected", "_selected_action": [theirs.pk, mine.pk]}
    )
    assert response.status_code == 302
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert theirs.status == RefundStatus.APPROVED
    assert mine.status == RefundStatus.REQUESTED
    texts = _messages(response)
    assert any("Approved 1 refund" in m for m in texts)
    assert any("own refund request" in m for m in texts)


# Reject ------------------------------------------------------------------------------------


def test_reject_button_asks_for_a_reason(client, support_user, finance_user):
    refund = _request(support_user)
    client.force_login(finance_user)
    url = reverse("admin:payments_refund_reject", args=[refund.pk])

    form = client.get(url)
    assert form.status_code == 200 and b'name="reason"' in form.content
    assert "R$ 50,00 on" in form.content.decode()

    empty = client.post(url, {"reason": "   "})
    assert empty.status_code == 200
    assert empty.context["form"].errors["reason"]
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert not DomainEvent.objects.filter(type="refund.rejected").exists()

    done = client.post(url, {"reason": "Outside the return window"})
    assert done.status_code == 302
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert refund.rejection_reason == "Outside the return window"
    assert refund.decided_by == finance_user


def test_reject_action_shows_a_form_and_needs_a_reason(client, support_user, finance_user):
    refunds = [_request(support_user), _request(support_user)]
    ids = [r.pk for r in refunds]
    client.force_login(finance_user)

    form = client.post(CHANGELIST, {"action": "reject_selected", "_selected_action": ids})
    assert form.status_code == 200 and b'name="reason"' in form.content
    assert "R$ 50,00 on" in form.content.decode()  # the amount, as money

    empty = client.post(
        CHANGELIST,
        {"action": "reject_selected", "_selected_action": ids, "apply": "1", "reason": ""},
    )
    assert empty.status_code == 200 and empty.context["form"].errors["reason"]
    assert Refund.objects.filter(status=RefundStatus.REQUESTED).count() == 2

    done = client.post(
        CHANGELIST,
        {"action": "reject_selected", "_selected_action": ids, "apply": "1", "reason": "Dup"},
    )
    assert done.status_code == 302
    assert set(Refund.objects.values_list("status", "rejection_reason")) == {
        (RefundStatus.REJECTED, "Dup")
    }


def test_rejecting_ones_own_request_is_an_admin_message(client, finance_user):
    refund = _request(finance_user)
    client.force_login(finance_user)
    url = reverse("admin:payments_refund_reject", args=[refund.pk])
    response = client.post(url, {"reason": "changed my mind"})
    assert response.status_code == 302
    assert any("own refund request" in m for m in _messages(response))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED


# The change page ---------------------------------------------------------------------------


def test_the_change_page_shows_the_customers_recent_timeline_and_approvals(
    client, support_user, finance_user, other_finance_user
):
    refund = _request(support_user, amount=300_000)
    refund_approve(refund=refund, approver=other_finance_user, reauthenticated_at=timezone.now())
    client.force_login(finance_user)

    page = client.get(_change_url(refund))

    assert page.status_code == 200
    entries = page.context["timeline"].entries
    assert 0 < len(entries) <= 10
    html = page.content.decode()
    assert 'id="timeline"' in html and 'data-type="refund.requested"' in html
    assert 'data-type="refund.approval_added"' in html
    assert "Approvals (1 of 2)" in html and str(other_finance_user) in html


# Requesting a refund -----------------------------------------------------------------------


def test_support_requests_a_refund_from_the_payment_page(client, support_user):
    payment = make_paid_payment(amount=9_000)
    client.force_login(support_user)
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert b'id="request-refund"' in page.content
    url = reverse("admin:payments_payment_request_refund", args=[payment.pk])

    too_much = client.post(url, {"amount": "90,01", "reason": "defective", "note": ""})
    assert too_much.status_code == 200
    assert "between R$ 0,01 and R$ 90,00; R$ 90,01 asked" in str(
        too_much.context["form"].non_field_errors()
    )
    assert not Refund.objects.exists()

    response = client.post(url, {"amount": "40.00", "reason": "defective", "note": "Broken mug"})
    refund = Refund.objects.get()
    assert response.status_code == 302 and response.url == _change_url(refund)
    assert (refund.amount, refund.requested_by, refund.note) == (4_000, support_user, "Broken mug")
    assert refund.status == RefundStatus.REQUESTED
    assert any("Refund of R$ 40,00 requested" in m for m in _messages(response))


def test_the_refund_form_is_in_reais_and_starts_at_what_is_refundable(client, support_user):
    payment = make_paid_payment(amount=123_456)
    client.force_login(support_user)
    url = reverse("admin:payments_payment_request_refund", args=[payment.pk])

    html = client.get(url).content.decode()

    assert 'name="amount" value="1.234,56"' in html
    assert 'inputmode="decimal"' in html and 'type="number"' not in html
    assert "paid R$ 1.234,56, still refundable R$ 1.234,56" in html
    assert '<span class="currency-symbol">R$</span>' in html


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("10,001", "ambiguous"),
        ("10.123", "ambiguous"),
        ("10,5,5", "not an amount"),
        ("-10", "positive"),
        ("dez reais", "not an amount"),
    ],
)
def test_a_refund_amount_with_too_many_decimals_or_garbage_is_refused(
    client, support_user, typed, says
):
    payment = make_paid_payment(amount=90_000)
    client.force_login(support_user)
    url = reverse("admin:payments_payment_request_refund", args=[payment.pk])

    response = client.post(url, {"amount": typed, "reason": "defective", "note": ""})

    assert response.status_code == 200
    assert says in str(response.context["form"].errors["amount"])
    assert not Refund.objects.exists()
    assert not DomainEvent.objects.filter(type__startswith="refund.").exists()


def test_refund_and_payment_pages_show_amounts_as_money(client, support_user, finance_user):
    refund = _request(support_user, amount=123_456)
    client.force_login(finance_user)

    refund_page = client.get(_change_url(refund)).content.decode()
    payment_page = client.get(
        reverse("admin:payments_payment_change", args=[refund.payment.pk])
    ).content.decode()

    assert "R$ 1.234,56" in refund_page and ">123456<" not in refund_page
    assert "R$ 1.234,56" in payment_page and ">123456<" not in payment_page
    assert "R$ 0,00" in payment_page  # nothing refunded yet


def test_a_role_without_add_refund_cannot_request_one(client, db):
    sales = make_staff("sales1", role="sales")
    payment = make_paid_payment()
    client.force_login(sales)
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert b'id="request-refund"' not in page.content
    url = reverse("admin:payments_payment_request_refund", args=[payment.pk])
    response = client.post(url, {"amount": "", "reason": "defective"})
    assert response.status_code == 403
    assert not Refund.objects.exists()


def test_the_page_tells_the_requester_and_the_first_approver_why_they_cannot_decide(
    client, finance_user, other_finance_user, support_user
):
    own = _request(finance_user)
    client.force_login(finance_user)
    page = client.get(_change_url(own)).content.decode()
    assert 'id="refund-approve"' not in page and "Your own request" in page

    large = _request(support_user, amount=500_000)
    refund_approve(refund=large, approver=finance_user, reauthenticated_at=timezone.now())
    page = client.get(_change_url(large)).content.decode()
    assert 'id="refund-approve"' not in page and "second finance user" in page
    assert 'id="refund-reject"' in page  # changing one's mind is still possible

    client.force_login(other_finance_user)
    page = client.get(_change_url(large)).content.decode()
    assert 'id="refund-approve"' in page


def test_the_change_page_runs_a_bounded_number_of_queries(
    client, support_user, finance_user, django_assert_max_num_queries
):
    refund = _request(support_user)
    for _ in range(5):
        make_paid_payment(customer=refund.payment.order.customer)
    client.force_login(finance_user)
    with django_assert_max_num_queries(20):
        assert client.get(_change_url(refund)).status_code == 200


def test_dispute_page_shows_its_amount_as_money(admin_client):
    from payments.models import Dispute

    payment = make_paid_payment(amount=2_550)
    dispute = Dispute.objects.create(
        payment=payment,
        provider=payment.provider,
        provider_dispute_id="dp_1",
        amount=2_550,
        currency="BRL",
        reason="fraudulent",
        opened_at=timezone.now(),
    )

    html = admin_client.get(
        reverse("admin:payments_dispute_change", args=[dispute.pk])
    ).content.decode()

    assert "R$ 25,50" in html and ">2550<" not in html
