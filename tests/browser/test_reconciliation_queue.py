"""Finance works the exception queue by clicking in Chromium (issue 15 item 4): the list with
its totals by kind, a write-off under the threshold, one above it approved by a second finance
user after re-entering the password, and a manual match picking a settlement line."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.models import AuditLogEntry
from payments.models import ReconciliationException
from payments.settlements.models import SettlementMatchItem
from tests.browser.conftest import Browser
from tests.factories import (
    ReconciliationExceptionFactory,
    SettlementLineFactory,
    make_paid_payment,
    make_staff,
)

E = ReconciliationException
QUEUE = reverse("admin:payments_reconciliationexception_changelist")
PASSWORD = "pw-for-tests-only"  # tests.factories.make_staff's


@pytest.fixture(autouse=True)
def _settings(settings: Any) -> None:
    settings.RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD = 10_000
    settings.SENSITIVE_ACTION_REAUTH_SECONDS = 300


def _totals(browser: Browser) -> list[list[str]]:
    rows = browser.find_all("#kind-totals tbody tr")
    return [[cell.text for cell in row.find_elements("css selector", "td")] for row in rows]


def _open_resolve_page(browser: Browser, exception: E) -> None:
    browser.visit(QUEUE)
    url = reverse("admin:payments_reconciliationexception_resolve", args=[exception.pk])
    browser.click(f'a.resolve-link[href="{url}"]')
    assert browser.path == url


def _write_off(browser: Browser, *, account: str, amount: str, note: str) -> None:
    browser.find('input[name="resolution"][value="write_off"]').click()
    browser.find(f'select[name="account"] option[value="{account}"]').click()
    browser.type('input[name="amount"]', amount)
    browser.type('textarea[name="note"]', note)
    browser.click("#resolve-submit")


def test_finance_works_the_queue_write_offs_a_second_approver_and_a_manual_match(
    browser: Browser,
) -> None:
    first = make_staff("finance", role="finance")
    second = make_staff("finance2", role="finance")
    small = ReconciliationExceptionFactory.create(amount=150, age_days=2)
    big = ReconciliationExceptionFactory.create(
        kind=E.Kind.CHARGEBACK_FEE, amount=-25_000, age_days=10
    )
    payment = make_paid_payment(amount=10_000)
    line = SettlementLineFactory.create(provider="sandbox", source_id="bank ref SB-1")
    unmatched = ReconciliationExceptionFactory.create(
        provider="sandbox", kind=E.Kind.UNMATCHED_PAYMENT, payment=payment, amount=None
    )

    # The queue, with its totals by kind (money in major units).
    browser.sign_in(first)
    browser.visit(QUEUE)
    browser.shot("queue")
    assert _totals(browser) == [
        ["Chargeback fee", "1", "-R$ 250,00"],
        ["Fee mismatch", "1", "R$ 1,50"],
        ["Payment without a settlement line", "1", "-"],
    ]
    assert "10 d" in browser.text(f"#result_list tr:has(a[href*='/{big.pk}/change/'])")

    # A write-off under the threshold resolves at once.
    _open_resolve_page(browser, small)
    browser.shot("resolve page")
    _write_off(browser, account="6100", amount="1,50", note="PSP rounded the fee")
    browser.shot("written off")
    assert browser.path == QUEUE
    assert f"Exception {small.pk} written off: R$ 1,50 to 6100." in browser.messages()
    small.refresh_from_db()
    assert (small.status, small.write_off_amount, small.resolved_by) == (
        E.Status.RESOLVED,
        150,
        first,
    )

    # One above the threshold is proposed and waits for someone else.
    _open_resolve_page(browser, big)
    _write_off(browser, account="6900", amount="250,00", note="Chargeback fee, no recovery")
    browser.shot("proposed")
    assert any("waits for a second finance user" in m for m in browser.messages())
    big.refresh_from_db()
    assert big.status == E.Status.AWAITING_APPROVAL and big.proposed_by == first
    approve_page = reverse("admin:payments_reconciliationexception_write_off", args=[big.pk])
    browser.visit(approve_page)
    assert browser.has("#write-off-own") and not browser.has("#approve-write-off")

    # The second finance user signed in an hour ago: Approve asks for the password first.
    browser.sign_in(second, signed_in_minutes_ago=60)
    browser.visit(f"{QUEUE}?status=awaiting_approval")
    browser.shot("awaiting approval")
    browser.click(f'a.approve-link[href="{approve_page}"]')
    assert "R$ 250,00" in browser.text("#write-off-proposal")
    assert "6900 Reconciliation write-offs" in browser.text("#write-off-proposal")
    browser.click("#approve-write-off")
    browser.shot("asked to confirm who they are")
    assert browser.path.startswith(reverse("reauth"))
    assert any("nothing was approved" in m for m in browser.messages())
    big.refresh_from_db()
    assert big.status == E.Status.AWAITING_APPROVAL
    browser.type("#reauth-password-form input[name=password]", PASSWORD)
    browser.click('#reauth-password-form input[type="submit"]')
    assert browser.path == approve_page
    browser.click("#approve-write-off")
    browser.shot("approved")
    assert f"Write-off on exception {big.pk} approved: resolved." in browser.messages()
    big.refresh_from_db()
    assert (big.status, big.approved_by, big.write_off_amount) == (
        E.Status.RESOLVED,
        second,
        25_000,
    )

    # A manual match: tick the settlement line; the exception's payment is filled in.
    _open_resolve_page(browser, unmatched)
    browser.find('input[name="resolution"][value="manual_match"]').click()
    assert browser.find('input[name="payments"]').get_attribute("value") == str(payment.pk)
    browser.find(f'input[name="lines"][value="{line.pk}"]').click()
    browser.type('textarea[name="note"]', "Bank reference names the order")
    browser.shot("manual match picked")
    browser.click("#resolve-submit")
    browser.shot("matched")
    assert any(
        f"Exception {unmatched.pk} resolved by manual match" in m for m in browser.messages()
    )
    unmatched.refresh_from_db()
    assert unmatched.resolution == E.Resolution.MANUAL_MATCH
    assert SettlementMatchItem.objects.get(line=line).match_id == unmatched.match_id
    assert SettlementMatchItem.objects.get(payment=payment).match_id == unmatched.match_id

    # The default (open) queue is empty now, and every step left its audit entry.
    browser.visit(QUEUE)
    assert "No exceptions in this view." in browser.text("#kind-totals")
    trail = AuditLogEntry.objects.filter(
        object_type__model="reconciliationexception", object_id=str(big.pk)
    ).order_by("id")
    assert [(e.action, e.actor) for e in trail] == [
        ("write_off_proposed", first),
        ("write_off_approved", second),
    ]
