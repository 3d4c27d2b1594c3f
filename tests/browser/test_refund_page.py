"""Finance decides on refunds by clicking on the refund's page in Chromium (issue 11 items 1, 8)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from payments.models import Refund, RefundApproval, RefundStatus
from payments.services import refund_request
from tests.browser.conftest import Browser
from tests.factories import make_paid_payment, make_staff

THRESHOLD = 100_000
PASSWORD = "pw-for-tests-only"  # tests.factories.make_staff's
DECIDED = {RefundStatus.APPROVED, RefundStatus.PROCESSING, RefundStatus.SUCCEEDED}


@pytest.fixture(autouse=True)
def _threshold(settings: Any) -> None:
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = THRESHOLD
    settings.SENSITIVE_ACTION_REAUTH_SECONDS = 300


def _request(requester: User, amount: int) -> Refund:
    return refund_request(
        payment=make_paid_payment(amount=amount), requested_by=requester, reason="defective"
    )


def _page(refund: Refund) -> str:
    return reverse("admin:payments_refund_change", args=[refund.pk])


def test_finance_approves_a_small_refund_by_clicking_approve_on_its_page(browser: Browser):
    support = make_staff("support", role="support")
    finance = make_staff("finance", role="finance")
    refund = _request(support, 5_000)
    browser.sign_in(finance)

    browser.visit(_page(refund))
    browser.shot("refund page")
    assert "Approvals (0 of 1)" in browser.text("#refund-approvals")
    browser.click("#refund-approve")
    browser.shot("after approve")

    assert browser.path == _page(refund)
    assert f"{refund} approved." in browser.messages()
    assert not browser.has("#refund-approve")
    assert "Approvals (1 of 1)" in browser.text("#refund-approvals")
    refund.refresh_from_db()
    assert refund.status in DECIDED
    assert refund.decided_by == finance
    assert list(refund.approvals.values_list("approver", flat=True)) == [finance.pk]


def test_a_requester_cannot_approve_or_reject_their_own_refund(browser: Browser):
    finance = make_staff("finance", role="finance")
    refund = _request(finance, 5_000)
    browser.sign_in(finance)

    browser.visit(_page(refund))
    browser.shot("own refund page")

    assert not browser.has("#refund-approve")
    assert not browser.has("#refund-reject")
    assert "Your own request: another finance user decides on it." in browser.text(
        "#refund-decision-note"
    )

    # The queue's action refuses it too, with a message.
    browser.visit(reverse("admin:payments_refund_changelist"))
    browser.find(f'input[name="_selected_action"][value="{refund.pk}"]').click()
    browser.find('select[name="action"] option[value="approve_selected"]').click()
    browser.shot("own refund selected in the queue")
    browser.click('button[name="index"]')
    browser.shot("refused")

    assert f"{refund}: Nobody approves or rejects their own refund request." in browser.messages()
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    assert not RefundApproval.objects.exists()


def test_finance_rejects_a_refund_with_a_reason(browser: Browser):
    support = make_staff("support", role="support")
    finance = make_staff("finance", role="finance")
    refund = _request(support, 5_000)
    browser.sign_in(finance)
    browser.visit(_page(refund))

    browser.click("#refund-reject")
    browser.shot("reject form")
    browser.type("#reject-form textarea[name=reason]", "   ")
    browser.click('#reject-form input[type="submit"]')
    browser.shot("blank reason refused")

    assert "This field is required." in browser.text("#reject-form .errorlist")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED

    browser.type("#reject-form textarea[name=reason]", "Outside the 30-day return window")
    browser.click('#reject-form input[type="submit"]')
    browser.shot("rejected")

    assert browser.path == _page(refund)
    assert f"{refund} rejected." in browser.messages()
    assert not browser.has("#refund-reject")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert refund.rejection_reason == "Outside the 30-day return window"
    assert refund.decided_by == finance


def test_two_finance_users_approve_a_large_refund_with_a_reauthentication_between(
    browser: Browser,
):
    support = make_staff("support", role="support")
    first = make_staff("finance", role="finance")
    second = make_staff("finance2", role="finance")
    refund = _request(support, THRESHOLD * 2)

    # The first approver signed in moments ago: no re-authentication needed.
    browser.sign_in(first)
    browser.visit(_page(refund))
    assert "Approvals (0 of 2)" in browser.text("#refund-approvals")
    browser.click("#refund-approve")
    browser.shot("first approval")
    assert any("needs a second finance user" in m for m in browser.messages())
    assert "Approvals (1 of 2)" in browser.text("#refund-approvals")
    assert not browser.has("#refund-approve")
    assert "waits for a second finance user" in browser.text("#refund-decision-note")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED

    # The second signed in an hour ago: Approve asks for the password first, approves nothing.
    browser.sign_in(second, signed_in_minutes_ago=60)
    browser.visit(_page(refund))
    browser.click("#refund-approve")
    browser.shot("asked to confirm who they are")
    assert browser.path.startswith(reverse("reauth"))
    assert any("nothing was approved" in m for m in browser.messages())
    assert refund.approvals.count() == 1

    browser.type("#reauth-password-form input[name=password]", PASSWORD)
    browser.click('#reauth-password-form input[type="submit"]')
    browser.shot("back on the refund")

    # Back on the refund with the approval waiting, the Approve button focused.
    assert browser.path == f"{_page(refund)}?approve=resume"
    assert "Your approval of this refund is waiting" in browser.text("#refund-resume")
    approve = browser.find("#refund-approve")
    assert browser.driver.switch_to.active_element == approve
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED and refund.approvals.count() == 1

    browser.click_element(approve)
    browser.shot("second approval")

    assert f"{refund} approved." in browser.messages()
    assert "Approvals (2 of 2)" in browser.text("#refund-approvals")
    refund.refresh_from_db()
    assert refund.status in DECIDED
    assert set(refund.approvals.values_list("approver", flat=True)) == {first.pk, second.pk}
