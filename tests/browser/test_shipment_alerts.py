"""Ops mark a shipment alert handled by clicking "Mark handled" on its page in Chromium (issue 12
item 6); a role that may only read the list sees no button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from integrations.models import DomainEvent
from shipping.alerts import shipment_alerts_scan
from shipping.models import ShipmentAlert, ShipmentStatus
from shipping.services import shipment_apply_tracking, shipment_create, shipment_purchase_label
from tests.browser.conftest import Browser
from tests.factories import make_paid_payment, make_staff


def _stale_alert() -> ShipmentAlert:
    """A parcel last scanned 9 days ago, flagged by the scan."""
    order = make_paid_payment().order
    shipment = shipment_create(order=order, carrier="sandbox", service="economy")
    shipment = shipment_purchase_label(shipment=shipment, tracking_code="SB777000111BR")
    shipment_apply_tracking(
        shipment=shipment,
        status=ShipmentStatus.IN_TRANSIT,
        occurred_at=datetime.now(tz=UTC) - timedelta(days=9),
        location="Campinas, SP",
    )
    assert shipment_alerts_scan().raised == 1
    return ShipmentAlert.objects.get(shipment=shipment)


def test_ops_mark_an_alert_handled_from_its_page(browser: Browser) -> None:
    alert = _stale_alert()
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(reverse("admin:shipping_shipmentalert_changelist"))
    browser.shot("ops list: needs attention")
    assert "SB777000111BR" in browser.text("#result_list")
    browser.click("#result_list tbody tr th a")
    assert browser.path == reverse("admin:shipping_shipmentalert_change", args=[alert.pk])
    assert browser.has("#alert-handle-button")

    browser.type("#alert-handle-note", "Carrier confirmed delivery on Friday.")
    browser.click("#alert-handle-button")
    browser.shot("after mark handled")

    assert browser.path == reverse("admin:shipping_shipmentalert_change", args=[alert.pk])
    assert browser.messages() == [f"{alert} marked handled."]
    assert not browser.has("#alert-handle-button")
    alert.refresh_from_db()
    assert alert.status == ShipmentAlert.Status.HANDLED
    assert alert.handling_note == "Carrier confirmed delivery on Friday."
    assert DomainEvent.objects.filter(type="shipment.alert_handled").count() == 1

    browser.visit(reverse("admin:shipping_shipmentalert_changelist"))
    browser.shot("ops list: nothing needs attention")
    assert not browser.has("#result_list")


@pytest.mark.parametrize("role", ["support", "finance"])
def test_a_role_that_cannot_handle_alerts_sees_no_button(browser: Browser, role: str) -> None:
    alert = _stale_alert()
    browser.sign_in(make_staff(role, role=role))

    browser.visit(reverse("admin:shipping_shipmentalert_change", args=[alert.pk]))
    browser.shot(f"{role} on the alert page")

    assert "No scan for 9 days" in browser.text("body")
    assert not browser.has("#alert-handle-button")
    alert.refresh_from_db()
    assert alert.status == ShipmentAlert.Status.OPEN
