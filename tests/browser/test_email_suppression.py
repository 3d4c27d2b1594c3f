"""Support clears an e-mail suppression by clicking "Clear suppression" on its page in
Chromium (issue 13 item 1); sales, who may only read the list, sees no button."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import DomainEvent
from notifications.models import EmailSuppression
from notifications.selectors import email_suppression_for
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff


def _suppression() -> EmailSuppression:
    make_customer(email="ana@example.test", name="Ana Souza")
    return EmailSuppression.objects.create(
        address="ana@example.test",
        reason="bounced",
        detail="hard bounce message",
        provider="resend",
    )


def _page(suppression: EmailSuppression) -> str:
    return reverse("admin:notifications_emailsuppression_change", args=[suppression.pk])


def test_support_clears_a_suppression_from_its_page(browser: Browser) -> None:
    suppression = _suppression()
    browser.sign_in(make_staff("support", role="support"))

    browser.visit(reverse("admin:notifications_emailsuppression_changelist"))
    assert "ana@example.test" in browser.text("#result_list")
    browser.visit(_page(suppression))
    browser.shot("suppressed address")
    browser.click("#suppression-clear-button")
    browser.shot("after clearing")

    assert browser.path == _page(suppression)
    assert browser.messages() == ["Cleared ana@example.test: e-mail to it is sent again."]
    assert not browser.has("#suppression-clear-button")
    assert "Cleared" in browser.text("body")
    assert email_suppression_for("ana@example.test") is None
    assert DomainEvent.objects.filter(type="notification.email_suppression_cleared").count() == 1


def test_sales_sees_the_suppression_but_no_button(browser: Browser) -> None:
    suppression = _suppression()
    browser.sign_in(make_staff("sales", role="sales"))

    browser.visit(_page(suppression))

    assert "hard bounce message" in browser.text("body")
    assert not browser.has("#suppression-clear-button")
