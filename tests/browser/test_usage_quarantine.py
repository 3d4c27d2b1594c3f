"""Ops add an unknown usage event to the tracking plan and release it from the quarantine by
clicking in Chromium; the customer's page then shows the usage panel (issue 14 item 1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.urls import reverse

from tests.browser.conftest import Browser
from tests.factories import make_customer, make_staff
from usage.models import QuarantinedUsageEvent, TrackedEvent, UsageEvent
from usage.services import usage_events_ingest


def _choose_action(browser: Browser, name: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(browser.find("select[name=action]")).select_by_value(name)


def test_ops_release_an_event_after_adding_it_to_the_plan(browser: Browser) -> None:
    bia = make_customer(name="Bia Lima", email="bia@example.test")
    when = datetime.now(tz=UTC) - timedelta(days=2)
    results = usage_events_ingest(
        source="api_key:1",
        events=[
            {
                "id": "evt-1",
                "customer": {"email": "bia@example.test"},
                "event": "dashboard_viewed",
                "timestamp": when.isoformat(),
            }
        ],
    )
    assert results[0].status == "quarantined"
    browser.sign_in(make_staff("ops", role="ops"))

    # Releasing before the plan knows the event keeps it, with the reason.
    browser.visit(reverse("admin:usage_quarantinedusageevent_changelist"))
    browser.shot("quarantine")
    assert "is not in the tracking plan" in browser.text("#result_list")
    browser.find("#result_list input.action-select").click()
    _choose_action(browser, "release_selected")
    browser.click("button[name=index]")
    assert browser.messages() == ["Released 0 event(s); 1 still quarantined (see their reasons)."]
    assert not UsageEvent.objects.exists()

    # Add the event to the plan.
    browser.visit(reverse("admin:usage_trackedevent_add"))
    browser.type("#id_name", "dashboard_viewed")
    browser.click("input[name=_save]")
    browser.shot("plan saved")
    assert browser.path == reverse("admin:usage_trackedevent_changelist")

    # Release it again: now it counts.
    browser.visit(reverse("admin:usage_quarantinedusageevent_changelist"))
    browser.find("#result_list input.action-select").click()
    _choose_action(browser, "release_selected")
    browser.click("button[name=index]")
    browser.shot("released")
    assert "1 event(s)" in browser.messages()[0], (
        QuarantinedUsageEvent.objects.get().reason,
        list(TrackedEvent.objects.values_list("name", flat=True)),
    )
    assert browser.messages() == ["Released 1 event(s); 0 still quarantined (see their reasons)."]
    released = QuarantinedUsageEvent.objects.get()
    assert released.status == "released" and released.released_by is not None
    assert UsageEvent.objects.get().customer == bia

    browser.visit(reverse("admin:accounts_customer_change", args=[bia.pk]))
    browser.shot("customer page usage panel")
    assert browser.text("#usage-events") == "1"
    assert browser.text("#usage-active-7") == "1"
    assert "dashboard_viewed" in browser.text("#usage")
    assert "dashboard_viewed" in browser.text("#timeline")


def test_support_sees_the_usage_panel_but_not_the_quarantine(browser: Browser) -> None:
    bia = make_customer(name="Bia Lima")
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(reverse("admin:accounts_customer_change", args=[bia.pk]))
    assert "No product usage received for this customer yet." in browser.text("#usage")
    browser.visit(reverse("admin:usage_quarantinedusageevent_changelist"))
    browser.shot("support refused")
    assert "You may not open this page" in browser.text("body")
