"""The two message-settings forms that had no browser proof (issue 13 items 4 and 5), clicked in
Chromium: ops register and approve a WhatsApp template (a malformed Content SID is refused on its
field), and an admin gives a customer a time zone and quiet hours behind "Edit details" (one end
alone is refused and nothing is saved)."""

from __future__ import annotations

from datetime import time

from django.urls import reverse
from selenium.webdriver.support.ui import Select

from notifications.policy.models import WhatsAppTemplate
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff

SID = "HX" + "0123456789abcdef" * 2


def test_ops_register_and_approve_a_whatsapp_template(browser: Browser) -> None:
    browser.sign_in(make_staff("ops", role="ops"))
    browser.visit(reverse("admin:notifications_whatsapptemplate_add"))
    browser.type("#id_key", "order_paid")
    Select(browser.find("#id_language")).select_by_value("en")
    Select(browser.find("#id_provider")).select_by_value("twilio")
    browser.type("#id_provider_template", "HX-not-a-sid")
    browser.type("#id_variables", "first_name, order_number")
    browser.type("#id_content", "Hi {{1}}, order {{2}} is paid.")
    browser.click('input[name="_save"]')
    browser.shot("malformed sid")

    assert "A Twilio Content SID is HX followed by 32 hexadecimal digits." in browser.text(
        ".field-provider_template"
    )
    assert not WhatsAppTemplate.objects.exists()

    browser.type("#id_provider_template", SID)
    browser.find("#id_approved").click()
    browser.click('input[name="_save"]')
    browser.shot("saved")

    template = WhatsAppTemplate.objects.get()
    assert (template.key, template.language, template.provider_template) == (
        "order_paid",
        "en",
        SID,
    )
    assert template.variables == ["first_name", "order_number"]
    assert template.approved
    assert browser.path == reverse("admin:notifications_whatsapptemplate_changelist")
    assert "order_paid" in browser.text("#result_list")


def test_admin_sets_a_customers_time_zone_and_quiet_hours(browser: Browser) -> None:
    customer = make_customer(name="Ana Souza")
    browser.sign_in(make_staff("boss", role="admin"))
    page = reverse("admin:accounts_customer_change", args=[customer.pk])
    browser.visit(page)
    browser.find("#edit-details").click()
    browser.type("#id_time_zone", "America/New_York")
    browser.type("#id_quiet_hours_start", "21:30:00")
    browser.click('#customer_form input[name="_continue"]')
    browser.shot("one end only")

    assert "Give both ends of the customer's quiet hours, or neither" in browser.text()
    customer.refresh_from_db()
    assert (customer.time_zone, customer.quiet_hours_start) == ("", None)

    browser.type("#id_quiet_hours_end", "07:00:00")
    browser.click('#customer_form input[name="_continue"]')
    browser.shot("saved")

    customer.refresh_from_db()
    assert customer.time_zone == "America/New_York"
    assert (customer.quiet_hours_start, customer.quiet_hours_end) == (time(21, 30), time(7))
