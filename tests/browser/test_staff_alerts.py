"""Ops reads the staff alerts list and opens an alert, clicking in Chromium (issue 13 item 9);
support, who is not told, has no such list."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import StaffAlert
from tests.browser.conftest import Browser
from tests.factories import make_staff

LIST = reverse("admin:integrations_staffalert_changelist")


def test_ops_opens_an_alert_from_the_list(browser: Browser) -> None:
    StaffAlert.objects.create(
        kind="breaker_open",
        role="ops",
        object_key="breaker:zapi",
        title="Circuit breaker open: zapi",
        text="Calls to zapi failed too often.",
        repeats=9,
        slack_status="sent",
        email_status="sent",
    )
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(LIST)
    assert "Circuit breaker open: zapi" in browser.text("#result_list")
    browser.shot("staff alerts")
    browser.click("#result_list tbody tr a")
    browser.shot("one alert")

    body = browser.text("#content")
    assert "Calls to zapi failed too often." in body
    assert "breaker:zapi" in body


def test_an_empty_list_says_what_would_appear(browser: Browser) -> None:
    browser.sign_in(make_staff("ops", role="ops"))
    browser.visit(LIST)
    assert "No staff alerts yet." in browser.text("#content")


def test_support_has_no_staff_alerts_list(browser: Browser) -> None:
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(LIST)
    assert browser.has(".permission-denied")
