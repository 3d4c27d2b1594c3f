"""Support finds a customer, filters the timeline, adds a note and requests a refund, clicking in
Chromium (issue 11 items 1, 2 and 8)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from accounts.models import Customer, CustomerNote
from payments.models import Payment, Refund, RefundStatus
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_order, make_paid_payment, make_staff

CUSTOMERS = reverse("admin:accounts_customer_changelist")


def _customer_with_a_paid_order() -> tuple[Customer, Payment]:
    make_customer(name="Bruno Lima", phone="+5521912345678")  # someone else, never found
    ana = make_customer(name="Ana Souza", email="ana@example.test", phone="+5511987654321")
    payment = make_paid_payment(order=make_order(customer=ana, amount=12_000))
    return ana, payment


def _search(browser: Browser, term: str) -> list[str]:
    browser.visit(CUSTOMERS)
    browser.type("#searchbar", term)
    browser.click('#changelist-search input[type="submit"]')
    return [row.text for row in browser.find_all("#result_list tbody th.field-name")]


def test_support_finds_a_customer_by_phone_and_by_order_number(browser: Browser):
    ana, payment = _customer_with_a_paid_order()
    browser.sign_in(make_staff("support", role="support"))

    assert _search(browser, "(11) 98765-4321") == ["Ana Souza"]
    browser.shot("found by phone")
    assert _search(browser, payment.order.number) == ["Ana Souza"]
    browser.shot("found by order number")

    browser.click("#result_list tbody th.field-name a")
    browser.shot("customer page")
    assert urlparse(browser.path).path == reverse("admin:accounts_customer_change", args=[ana.pk])
    assert browser.has("#timeline tr.timeline-entry")


def test_support_filters_the_timeline_by_source_with_the_filter_button(browser: Browser):
    ana, _ = _customer_with_a_paid_order()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(reverse("admin:accounts_customer_change", args=[ana.pk]))
    browser.shot("whole timeline")
    kinds_before = {row.get_attribute("data-type") for row in browser.find_all("tr.timeline-entry")}
    assert any(kind.startswith("payment.") for kind in kinds_before)
    assert any(not kind.startswith(("payment.", "refund.")) for kind in kinds_before)

    browser.find('#timeline input[name="source"][value="payments"]').click()
    browser.click('#timeline input[type="submit"][value="Filter"]')
    browser.shot("payments only")

    assert parse_qs(urlparse(browser.path).query) == {"source": ["payments"]}
    kinds_after = {row.get_attribute("data-type") for row in browser.find_all("tr.timeline-entry")}
    assert kinds_after and all(kind.startswith("payment.") for kind in kinds_after)
    assert browser.find('#timeline input[name="source"][value="payments"]').is_selected()

    browser.click("#timeline .timeline-filters a")  # Show everything
    browser.shot("everything again")
    assert {
        row.get_attribute("data-type") for row in browser.find_all("tr.timeline-entry")
    } == kinds_before


def test_support_adds_a_note_by_clicking_and_sees_it_on_the_timeline(browser: Browser):
    ana, _ = _customer_with_a_paid_order()
    support = make_staff("support", role="support")
    browser.sign_in(support)
    browser.visit(reverse("admin:accounts_customer_change", args=[ana.pk]))

    browser.type("#note-body", "Called about the late parcel; promised an update by Friday.")
    browser.shot("note typed")
    browser.click('input[type="submit"][form="note-form"]')
    browser.shot("note added")

    assert "Note added." in browser.messages()
    newest = browser.find("tr.timeline-entry")
    assert newest.get_attribute("data-type") == "note.added"
    assert "Called about the late parcel" in newest.text
    note = CustomerNote.objects.get()
    assert (note.customer, note.author) == (ana, support)
    assert note.body == "Called about the late parcel; promised an update by Friday."


# Amounts are typed in reais in a text field (the browser keeps the comma): "10,00" and "10.00"
# both ask for R$ 10,00, and the confirmation repeats the amount.
@pytest.mark.parametrize("typed", ["10,00", "10.00"])
def test_support_requests_a_refund_typed_in_reais(browser: Browser, typed: str):
    _, payment = _customer_with_a_paid_order()
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(reverse("admin:payments_payment_change", args=[payment.pk]))

    browser.click("#request-refund")
    browser.type("#request-refund-form input[name=amount]", typed)
    browser.find('#request-refund-form select[name=reason] option[value="defective"]').click()
    browser.shot("refund typed in reais")
    browser.click('#request-refund-form input[type="submit"]')
    browser.shot("refund requested")

    refund = Refund.objects.get()
    assert browser.path == reverse("admin:payments_refund_change", args=[refund.pk])
    assert (refund.amount, refund.currency) == (1_000, "BRL")
    assert any("R$ 10,00" in message for message in browser.messages()), browser.messages()
    assert refund.status == RefundStatus.REQUESTED
