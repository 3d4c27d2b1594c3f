"""The order list's paid status, clicked in Chromium: the "Amount paid" and "Paid status"
columns, and the paid-status filter in the sidebar narrowing the list to partially paid
orders."""

from __future__ import annotations

from django.urls import reverse

from payments.services import payment_create, payment_mark_succeeded
from tests.browser.conftest import Browser
from tests.factories import make_order, make_paid_payment, make_staff


def test_finance_filters_orders_by_paid_status(browser: Browser) -> None:
    partial = make_order(amount=10_000)
    payment_mark_succeeded(
        payment=payment_create(order=partial, provider="sandbox", method="pix", amount=2_500)
    )
    paid = make_paid_payment(amount=7_000).order
    unpaid = make_order(amount=3_000)
    browser.sign_in(make_staff("finance", role="finance"))

    browser.visit(reverse("admin:orders_order_changelist"))
    browser.shot("order list")
    table = browser.text("#result_list")
    assert "AMOUNT PAID" in table.upper() and "PAID STATUS" in table.upper()
    row = next(
        r.text for r in browser.find_all("#result_list tbody tr") if partial.number in r.text
    )
    assert "R$ 25,00" in row and "Partially paid" in row

    browser.click('#changelist-filter a[href*="paid_status__exact=partially_paid"]')
    browser.shot("partially paid orders")
    assert "paid_status__exact=partially_paid" in browser.path
    listed = browser.text("#result_list")
    assert partial.number in listed
    assert paid.number not in listed and unpaid.number not in listed

    browser.click('#changelist-filter a[href*="paid_status__exact=over_paid"]')
    browser.shot("no over-paid orders")
    assert not browser.has("#result_list")
