"""Issue 12 item 4: one normalised tracking status, the carrier's own code and message kept on
every tracking event, unknown codes kept and flagged, every event on the order and customer
timelines with its location."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.customers.selectors import customer_timeline
from integrations.models import DomainEvent
from orders.models import Order
from orders.selectors import order_timeline
from shipping.carriers.sandbox.tracking import SANDBOX_CODES, sandbox_status
from shipping.carriers.sandbox.webhooks import endpoint
from shipping.models import Shipment, TrackingEvent, TrackingStatus
from shipping.services import shipment_create, shipment_purchase_label
from tests.support.shipping import deliver, signed

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# The sandbox's codes and what each must mean, written out (not derived from the code's table).
SANDBOX_TABLE = {
    "pre_transit": ("pre_transit", None),
    "posted": ("in_transit", "posted"),
    "in_transit": ("in_transit", "in_transit"),
    "out_for_delivery": ("out_for_delivery", "out_for_delivery"),
    "delivered": ("delivered", "delivered"),
    "available_for_pickup": ("available_for_pickup", "available_for_pickup"),
    "delivery_failed": ("failure", "delivery_failed"),
    "returned": ("return_to_sender", "returned"),
    "delayed": ("delayed", None),
    "cancelled": ("cancelled", None),
    "lost": ("lost", "lost"),
}


def test_the_normalised_statuses_are_the_ten_of_the_issue_plus_unknown() -> None:
    assert set(TrackingStatus.values) == {
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "available_for_pickup",
        "return_to_sender",
        "failure",
        "cancelled",
        "delayed",
        "lost",
        "unknown",
    }


@pytest.mark.parametrize(("code", "expected"), sorted(SANDBOX_TABLE.items()))
def test_sandbox_code_table(code: str, expected: tuple[str, str | None]) -> None:
    assert sandbox_status(code) == expected


def test_the_table_lists_every_sandbox_code() -> None:
    assert set(SANDBOX_CODES) == set(SANDBOX_TABLE)
    assert sandbox_status("XPTO-9") == ("unknown", None)


def _labelled(order: Order) -> Shipment:
    shipment = shipment_create(order=order, carrier="sandbox", service="economy")
    return shipment_purchase_label(shipment=shipment, tracking_code=f"SB{shipment.pk:09d}BR")


def _scan(shipment: Shipment, code: str, minutes: int, **extra: str) -> None:
    headers, body = signed(
        event_type="tracking.updated",
        data={
            "reference": f"shipment:{shipment.pk}",
            "tracking_code": shipment.tracking_code,
            "status": code,
            **extra,
        },
        occurred_at=T0 + timedelta(minutes=minutes),
        msg_id=f"msg_{shipment.pk}_{code}_{minutes}",
    )
    deliver(endpoint, headers, body)


def test_each_scan_keeps_code_message_and_location(paid_order: Order) -> None:
    shipment = _labelled(paid_order)
    _scan(shipment, "posted", 1, location="Sao Paulo, SP", description="Objeto postado")
    _scan(shipment, "delayed", 2, location="Campinas, SP", description="Atraso na entrega")

    events = list(shipment.tracking_events.order_by("occurred_at"))
    assert [(e.status, e.carrier_code, e.carrier_message, e.location) for e in events] == [
        ("in_transit", "posted", "Objeto postado", "Sao Paulo, SP"),
        ("delayed", "delayed", "Atraso na entrega", "Campinas, SP"),
    ]
    shipment.refresh_from_db()
    assert shipment.status == "posted"  # a delay keeps the shipment where it is
    assert shipment.tracking_status == "delayed"  # but the newest word is shown


def test_an_unknown_code_is_stored_shown_and_flagged_never_dropped(
    paid_order: Order, admin_user, client
) -> None:
    shipment = _labelled(paid_order)
    _scan(shipment, "ZX-42", 1, location="Curitiba, PR", description="Situacao nova")

    [event] = shipment.tracking_events.all()
    assert (event.status, event.carrier_code, event.needs_attention) == ("unknown", "ZX-42", True)
    shipment.refresh_from_db()
    assert shipment.status == "label_purchased"
    timeline = DomainEvent.objects.get(type="shipment.tracking_update", subject_id=str(shipment.pk))
    assert timeline.data["needs_attention"] is True
    client.force_login(admin_user)
    ops_list = client.get(
        reverse("admin:shipping_trackingevent_changelist") + "?needs_attention__exact=1"
    )
    assert "ZX-42" in ops_list.content.decode()
    page = client.get(reverse("admin:shipping_shipment_change", args=[shipment.pk]))
    assert "ZX-42" in page.content.decode() and "Situacao nova" in page.content.decode()


def test_duplicated_scans_keep_one_tracking_event(paid_order: Order) -> None:
    shipment = _labelled(paid_order)
    for _ in range(3):
        _scan(shipment, "in_transit", 5, location="Hub")
        _scan(shipment, "delayed", 6, location="Hub")
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 2
    assert DomainEvent.objects.filter(type="shipment.tracking_update").count() == 1


def test_out_of_order_scans_end_on_the_newest_normalised_status(paid_order: Order) -> None:
    shipment = _labelled(paid_order)
    _scan(shipment, "delivered", 9, location="Rio de Janeiro, RJ")
    _scan(shipment, "delayed", 5)
    _scan(shipment, "posted", 1)
    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_status) == ("delivered", "delivered")
    assert shipment.tracking_events.count() == 3


def test_every_tracking_event_is_on_order_and_customer_timelines_with_location(
    paid_order: Order,
) -> None:
    shipment = _labelled(paid_order)
    scans = [
        ("pre_transit", "Sao Paulo, SP"),
        ("posted", "Sao Paulo, SP"),
        ("in_transit", "Campinas, SP"),
        ("delayed", "Campinas, SP"),
        ("out_for_delivery", "Rio de Janeiro, RJ"),
        ("delivered", "Niteroi, RJ"),
    ]
    for minutes, (code, location) in enumerate(scans, start=1):
        _scan(shipment, code, minutes, location=location)

    on_order = [e for e in order_timeline(order=paid_order) if e.type.startswith("shipment.")]
    on_customer = [
        e
        for e in customer_timeline(customer=paid_order.customer).entries
        if e.type.startswith("shipment.")
    ]
    for entries in (on_order, on_customer):
        summaries = [e.summary for e in entries]
        for _code, location in scans:
            assert any(location in summary for summary in summaries), (location, summaries)
        tracking_lines = [
            e for e in entries if e.type not in ("shipment.created", "shipment.label_purchased")
        ]
        assert len(tracking_lines) == len(scans)


def test_the_order_admin_page_shows_the_timeline(paid_order: Order, admin_user, client) -> None:
    shipment = _labelled(paid_order)
    _scan(shipment, "posted", 1, location="Sao Paulo, SP")
    client.force_login(admin_user)
    page = client.get(reverse("admin:orders_order_change", args=[paid_order.pk]))
    assert "posted at Sao Paulo, SP" in page.content.decode()
