"""Support turns marketing by WhatsApp off for a customer by clicking the Message preferences
grid on the customer's page in Chromium (issue 13 item 4); transactional e-mail cannot be
unticked; ops, who may only read, sees the grid without a button."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import DomainEvent
from notifications.policy.selectors import preferences_of
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff


def test_support_turns_a_channel_off_for_marketing(browser: Browser) -> None:
    customer = make_customer(name="Ana Souza", email="ana@example.test")
    browser.sign_in(make_staff("support", role="support"))
    page = reverse("admin:accounts_customer_change", args=[customer.pk])

    browser.visit(page)
    browser.shot("the grid")
    always = browser.find("#pref-transactional-email")
    assert always.is_selected() and not always.is_enabled(), "transactional e-mail: always"
    box = browser.find("#pref-marketing-whatsapp")
    assert box.is_selected()
    box.click()
    browser.click("#preferences-save")
    browser.shot("saved")

    assert browser.path == f"{page}#message-preferences"
    assert browser.messages() == ["Message preferences saved (1 change(s))."]
    assert not browser.find("#pref-marketing-whatsapp").is_selected()
    assert browser.find("#pref-marketing-email").is_selected()
    current = preferences_of(customer_id=customer.pk)
    assert current[("marketing", "whatsapp")] is False
    assert all(allowed for key, allowed in current.items() if key != ("marketing", "whatsapp"))
    assert "Marketing by WhatsApp: off" in browser.text("#timeline")
    assert DomainEvent.objects.filter(type="notification.preferences_changed").count() == 1

    browser.click("#preferences-save")  # nothing changed
    assert browser.messages() == ["Message preferences unchanged."]


def test_ops_reads_the_grid_without_a_button(browser: Browser) -> None:
    customer = make_customer(name="Ana Souza")
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(reverse("admin:accounts_customer_change", args=[customer.pk]))

    assert browser.has("#message-preferences")
    assert not browser.find("#pref-marketing-sms").is_enabled()
    assert not browser.has("#preferences-save")
