"""Support finds a customer's opt-out in the consent ledger in Chromium (issue 13 item 4): the
list shows who opted out of which channel and how, the search finds the customer by phone, the
row opens read-only, and the customer's timeline says it."""

from __future__ import annotations

from django.urls import reverse

from notifications.consent.services import consent_opt_out
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff


def test_support_finds_an_opt_out_and_opens_it(browser: Browser) -> None:
    ana = make_customer(name="Ana Souza", email="ana@example.test", phone="+5511987654321")
    make_customer(name="Bia Lima", email="bia@example.test", phone="+5521912345678")
    consent_opt_out(
        customer=ana,
        channel="whatsapp",
        source="twilio inbound PARAR",
        detail="parar",
        address="whatsapp:+5511987654321",
    )
    browser.sign_in(make_staff("support", role="support"))

    browser.visit(reverse("admin:notifications_consentrecord_changelist"))
    browser.type("#searchbar", "+5511987654321")
    browser.click("#changelist-search input[type=submit]")
    browser.shot("ledger searched by phone")
    rows = browser.text("#result_list")
    assert "Ana Souza" in rows and "twilio inbound PARAR" in rows and "Opted out" in rows
    browser.click("#result_list tbody tr th a")
    browser.shot("the record")

    assert "whatsapp:+5511987654321" in browser.text("body")
    assert not browser.has("input[name=_save]"), "the ledger is read-only"

    browser.visit(reverse("admin:accounts_customer_change", args=[ana.pk]))
    assert "Opted out of WhatsApp (twilio inbound PARAR)" in browser.text("body")


def test_an_empty_ledger_says_why(browser: Browser) -> None:
    browser.sign_in(make_staff("sales", role="sales"))

    browser.visit(reverse("admin:notifications_consentrecord_changelist"))

    assert "No consent decisions yet" in browser.text("body")
