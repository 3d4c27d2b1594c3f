from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Customer
from integrations.events import render_summary
from integrations.exceptions import InvalidTransition
from integrations.models import DomainEvent
from orders.models import Order, OrderStatus
from shipping.exceptions import OrderNotShippable, ShipmentNotAllowed, TrackingCodeTaken
from shipping.models import SHIPMENT_TRANSITIONS, Shipment, ShipmentStatus
from shipping.services import (
    shipment_apply_tracking,
    shipment_cancel,
    shipment_create,
    shipment_purchase_label,
)
from tests.factories import make_order, make_paid_payment

S = ShipmentStatus
WHEN = datetime(2025, 3, 4, 12, 30, tzinfo=UTC)


@pytest.fixture
def paid_order(customer: Customer) -> Order:
    return make_paid_payment(customer=customer).order


def _events(shipment: Shipment, type_: str | None = None) -> list[DomainEvent]:
    events = DomainEvent.objects.filter(
        subject_type__model="shipment", subject_id=str(shipment.pk)
    ).order_by("id")
    if type_ is not None:
        events = events.filter(type=type_)
    return list(events)


def _shipment_in(status: ShipmentStatus, order: Order) -> Shipment:
    """A shipment brought to ``status`` through the services only."""
    shipment = shipment_create(order=order, carrier="sandbox")
    paths = {
        S.PENDING: [],
        S.LABEL_PURCHASED: [],
        S.POSTED: [S.POSTED],
        S.IN_TRANSIT: [S.POSTED, S.IN_TRANSIT],
        S.OUT_FOR_DELIVERY: [S.POSTED, S.OUT_FOR_DELIVERY],
        S.DELIVERED: [S.POSTED, S.DELIVERED],
        S.DELIVERY_FAILED: [S.POSTED, S.DELIVERY_FAILED],
        S.RETURNED: [S.POSTED, S.DELIVERY_FAILED, S.RETURNED],
        S.AVAILABLE_FOR_PICKUP: [S.POSTED, S.AVAILABLE_FOR_PICKUP],
        S.LOST: [S.POSTED, S.LOST],
        S.CANCELLED: [],
    }
    if status == S.CANCELLED:
        return shipment_cancel(shipment=shipment, reason="Customer changed address")
    if status != S.PENDING:
        shipment = shipment_purchase_label(
            shipment=shipment, tracking_code=f"BR{shipment.pk:09d}XX"
        )
    for hours, step in enumerate(paths[status]):
        # Facts older than WHEN, so a test's own fact at WHEN is never stale.
        at = WHEN - timedelta(days=1) + timedelta(hours=hours)
        shipment = shipment_apply_tracking(shipment=shipment, status=step, occurred_at=at)
    assert shipment.status == status
    return shipment


# --- create ---------------------------------------------------------------------------------------


def test_create_moves_a_paid_order_to_fulfilling_and_records_the_event(
    paid_order: Order, customer: Customer
) -> None:
    shipment = shipment_create(
        order=paid_order, carrier="sandbox", service="SEDEX", cost_amount=2_350, occurred_at=WHEN
    )

    shipment.refresh_from_db()
    paid_order.refresh_from_db()
    assert shipment.status == S.PENDING
    assert (shipment.carrier, shipment.service) == ("sandbox", "SEDEX")
    assert (shipment.cost_amount, shipment.cost_currency) == (2_350, "BRL")
    assert paid_order.status == OrderStatus.FULFILLING
    [event] = _events(shipment)
    assert event.type == "shipment.created"
    assert event.customer_id == customer.pk
    assert event.occurred_at == WHEN
    assert event.data["order"] == paid_order.number
    assert render_summary(event) == f"{paid_order.number}: shipment via sandbox created"
    assert (
        DomainEvent.objects.filter(type="order.fulfilling", subject_id=str(paid_order.pk)).count()
        == 1
    )


def test_create_for_a_fulfilling_order_keeps_it_fulfilling(paid_order: Order) -> None:
    shipment_create(order=paid_order, carrier="sandbox")
    second = shipment_create(order=paid_order, carrier="easypost")

    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.FULFILLING
    assert Shipment.objects.filter(order=paid_order).count() == 2
    assert _events(second, "shipment.created")
    assert DomainEvent.objects.filter(type="order.fulfilling").count() == 1


@pytest.mark.parametrize("status", [OrderStatus.PLACED, OrderStatus.CANCELLED])
def test_create_refuses_an_order_that_is_not_paid(customer: Customer, status: str) -> None:
    order = make_order(customer=customer)
    Order.objects.filter(pk=order.pk).update(status=status)
    order.refresh_from_db()
    events_before = DomainEvent.objects.count()

    with pytest.raises(OrderNotShippable, match="only a paid or fulfilling order can be shipped"):
        shipment_create(order=order, carrier="sandbox")

    assert not Shipment.objects.exists()
    assert DomainEvent.objects.count() == events_before


@pytest.mark.parametrize(
    ("carrier", "cost", "message"),
    [(" ", 0, "needs a carrier"), ("sandbox", -1, "cannot be negative")],
)
def test_create_refuses_bad_input(paid_order: Order, carrier: str, cost: int, message: str) -> None:
    with pytest.raises(ShipmentNotAllowed, match=message):
        shipment_create(order=paid_order, carrier=carrier, cost_amount=cost)

    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.PAID
    assert not Shipment.objects.exists()


# --- label ----------------------------------------------------------------------------------------


def test_purchase_label_keeps_the_carrier_ids(paid_order: Order, customer: Customer) -> None:
    shipment = shipment_create(order=paid_order, carrier="melhor_envio")

    shipment_purchase_label(
        shipment=shipment,
        tracking_code=" BR123456789BR ",
        provider_shipment_id="me-987",
        label_url="https://labels.example.test/987.pdf",
        occurred_at=WHEN,
    )

    shipment.refresh_from_db()
    assert shipment.status == S.LABEL_PURCHASED
    assert shipment.tracking_code == "BR123456789BR"
    assert shipment.provider_shipment_id == "me-987"
    assert shipment.label_url == "https://labels.example.test/987.pdf"
    [event] = _events(shipment, "shipment.label_purchased")
    assert event.customer_id == customer.pk
    assert event.actor_label == "melhor_envio"
    assert render_summary(event) == (
        f"melhor_envio BR123456789BR: label purchased for {paid_order.number}"
    )


def test_purchase_label_refuses_a_blank_or_taken_tracking_code(paid_order: Order) -> None:
    first = shipment_create(order=paid_order, carrier="sandbox")
    shipment_purchase_label(shipment=first, tracking_code="BR1")
    second = shipment_create(order=paid_order, carrier="sandbox")
    events_before = DomainEvent.objects.count()

    with pytest.raises(ShipmentNotAllowed, match="needs a tracking code"):
        shipment_purchase_label(shipment=second, tracking_code="  ")
    with pytest.raises(TrackingCodeTaken, match="already on another shipment"):
        shipment_purchase_label(shipment=second, tracking_code="BR1")

    second.refresh_from_db()
    assert (second.status, second.tracking_code) == (S.PENDING, "")
    assert DomainEvent.objects.count() == events_before


def test_the_same_tracking_code_is_fine_at_another_carrier(paid_order: Order) -> None:
    first = shipment_create(order=paid_order, carrier="sandbox")
    shipment_purchase_label(shipment=first, tracking_code="BR1")
    second = shipment_create(order=paid_order, carrier="easypost")

    shipment_purchase_label(shipment=second, tracking_code="BR1")

    assert Shipment.objects.filter(tracking_code="BR1").count() == 2


# --- tracking -------------------------------------------------------------------------------------


def test_posted_marks_the_order_shipped(paid_order: Order, customer: Customer) -> None:
    shipment = _shipment_in(S.LABEL_PURCHASED, paid_order)

    shipment_apply_tracking(
        shipment=shipment, status="posted", occurred_at=WHEN, location="Agência Centro"
    )

    shipment.refresh_from_db()
    paid_order.refresh_from_db()
    assert shipment.status == S.POSTED
    assert shipment.posted_at == WHEN
    assert shipment.last_tracking_at == WHEN
    assert paid_order.status == OrderStatus.SHIPPED
    [event] = _events(shipment, "shipment.posted")
    assert event.customer_id == customer.pk
    assert event.occurred_at == WHEN
    assert event.data["location"] == "Agência Centro"
    assert render_summary(event) == f"sandbox {shipment.tracking_code}: posted at Agência Centro"


def test_second_shipment_posted_leaves_a_shipped_order_alone(paid_order: Order) -> None:
    first = _shipment_in(S.LABEL_PURCHASED, paid_order)
    second = _shipment_in(S.LABEL_PURCHASED, paid_order)
    shipment_apply_tracking(shipment=first, status="posted")

    shipment_apply_tracking(shipment=second, status="posted")

    assert Shipment.objects.get(pk=second.pk).status == S.POSTED
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.SHIPPED
    assert DomainEvent.objects.filter(type="order.shipped").count() == 1


def test_delivered_marks_the_shipped_order_delivered(paid_order: Order) -> None:
    shipment = _shipment_in(S.OUT_FOR_DELIVERY, paid_order)

    shipment_apply_tracking(shipment=shipment, status="delivered", occurred_at=WHEN)

    shipment.refresh_from_db()
    paid_order.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert shipment.delivered_at == WHEN
    assert paid_order.status == OrderStatus.DELIVERED
    assert len(_events(shipment, "shipment.delivered")) == 1
    assert DomainEvent.objects.filter(type="order.delivered").count() == 1


def test_delivered_leaves_an_order_that_is_no_longer_shipped_alone(paid_order: Order) -> None:
    shipment = _shipment_in(S.IN_TRANSIT, paid_order)
    Order.objects.filter(pk=paid_order.pk).update(status=OrderStatus.REFUNDED)

    shipment_apply_tracking(shipment=shipment, status="delivered")

    paid_order.refresh_from_db()
    shipment.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert paid_order.status == OrderStatus.REFUNDED
    assert not DomainEvent.objects.filter(type="order.delivered").exists()


def test_tracking_summary_without_location_or_with_a_description(paid_order: Order) -> None:
    shipment = _shipment_in(S.POSTED, paid_order)

    shipment_apply_tracking(shipment=shipment, status="in_transit")
    shipment_apply_tracking(
        shipment=shipment, status="delivery_failed", location="Rua A", description="Nobody home"
    )

    code = shipment.tracking_code
    [in_transit] = _events(shipment, "shipment.in_transit")
    [failed] = _events(shipment, "shipment.delivery_failed")
    assert render_summary(in_transit) == f"sandbox {code}: in transit"
    assert render_summary(failed) == f"sandbox {code}: delivery failed at Rua A: Nobody home"
    assert failed.data["description"] == "Nobody home"


TRACKING_PATHS = [
    (current, target)
    for current, targets in SHIPMENT_TRANSITIONS.items()
    for target in sorted(targets)
    if current not in (S.PENDING, S.LABEL_PURCHASED) or target == S.POSTED
]


@pytest.mark.parametrize(("current", "target"), TRACKING_PATHS)
def test_every_allowed_tracking_move(paid_order: Order, current: str, target: str) -> None:
    shipment = _shipment_in(S(current), paid_order)

    shipment_apply_tracking(shipment=shipment, status=target, occurred_at=WHEN)

    shipment.refresh_from_db()
    assert shipment.status == target
    assert shipment.last_tracking_at == WHEN
    [event] = _events(shipment, f"shipment.{target}")
    assert event.customer_id == paid_order.customer_id
    assert event.data["status"] == target


@pytest.mark.parametrize("status", sorted(S.values))
def test_every_status_is_reachable_through_the_services(paid_order: Order, status: str) -> None:
    shipment = _shipment_in(S(status), paid_order)

    assert Shipment.objects.get(pk=shipment.pk).status == status


REFUSED_TRACKING = [
    (current, target)
    for current in S.values
    for target in (
        S.POSTED,
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
        S.DELIVERED,
        S.DELIVERY_FAILED,
        S.RETURNED,
    )
    if target != current and target not in SHIPMENT_TRANSITIONS[current]
]


@pytest.mark.parametrize(("current", "target"), REFUSED_TRACKING)
def test_refused_tracking_moves_change_nothing(
    paid_order: Order, current: str, target: str
) -> None:
    shipment = _shipment_in(S(current), paid_order)
    before = Shipment.objects.values().get(pk=shipment.pk)
    order_status = Order.objects.get(pk=paid_order.pk).status
    events_before = DomainEvent.objects.count()

    with pytest.raises(InvalidTransition) as info:
        shipment_apply_tracking(shipment=shipment, status=target)

    assert (info.value.current, info.value.target) == (current, target)
    assert Shipment.objects.values().get(pk=shipment.pk) == before
    assert Order.objects.get(pk=paid_order.pk).status == order_status
    assert DomainEvent.objects.count() == events_before


@pytest.mark.parametrize("status", [S.POSTED, S.IN_TRANSIT, S.DELIVERED, S.RETURNED])
def test_repeated_tracking_status_is_a_no_op(paid_order: Order, status: ShipmentStatus) -> None:
    shipment = _shipment_in(status, paid_order)
    before = Shipment.objects.values().get(pk=shipment.pk)
    events_before = DomainEvent.objects.count()

    result = shipment_apply_tracking(shipment=shipment, status=status, occurred_at=WHEN)

    assert result.pk == shipment.pk
    assert result.status == status
    assert Shipment.objects.values().get(pk=shipment.pk) == before
    assert DomainEvent.objects.count() == events_before


@pytest.mark.parametrize("status", ["pending", "label_purchased", "cancelled", "stolen"])
def test_apply_tracking_refuses_a_status_tracking_does_not_report(
    paid_order: Order, status: str
) -> None:
    shipment = _shipment_in(S.LABEL_PURCHASED, paid_order)
    events_before = DomainEvent.objects.count()

    with pytest.raises(ShipmentNotAllowed, match="not a tracking status"):
        shipment_apply_tracking(shipment=shipment, status=status)

    shipment.refresh_from_db()
    assert shipment.status == S.LABEL_PURCHASED
    assert DomainEvent.objects.count() == events_before


# --- cancel ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.PENDING, S.LABEL_PURCHASED])
def test_cancel_before_posting(paid_order: Order, status: ShipmentStatus) -> None:
    shipment = _shipment_in(status, paid_order)

    shipment_cancel(shipment=shipment, reason=" Address was wrong ", occurred_at=WHEN)

    shipment.refresh_from_db()
    paid_order.refresh_from_db()
    assert shipment.status == S.CANCELLED
    assert paid_order.status == OrderStatus.FULFILLING
    [event] = _events(shipment, "shipment.cancelled")
    assert event.customer_id == paid_order.customer_id
    assert event.data["reason"] == "Address was wrong"
    assert render_summary(event) == (
        f"{paid_order.number}: sandbox shipment cancelled: Address was wrong"
    )


@pytest.mark.parametrize(
    "status", [s for s in S.values if S.CANCELLED not in SHIPMENT_TRANSITIONS[s]]
)
def test_cancel_is_refused_once_posted_or_finished(paid_order: Order, status: str) -> None:
    shipment = _shipment_in(S(status), paid_order)
    before = Shipment.objects.values().get(pk=shipment.pk)
    events_before = DomainEvent.objects.count()

    with pytest.raises(InvalidTransition):
        shipment_cancel(shipment=shipment, reason="Too late")

    assert Shipment.objects.values().get(pk=shipment.pk) == before
    assert DomainEvent.objects.count() == events_before


def test_cancel_needs_a_reason(paid_order: Order) -> None:
    shipment = _shipment_in(S.PENDING, paid_order)

    with pytest.raises(ShipmentNotAllowed, match="needs a reason"):
        shipment_cancel(shipment=shipment, reason="  ")

    shipment.refresh_from_db()
    assert shipment.status == S.PENDING
    assert not _events(shipment, "shipment.cancelled")


@pytest.mark.parametrize("status", [s for s in S.values if s != S.PENDING])
def test_purchase_label_is_refused_after_pending(paid_order: Order, status: str) -> None:
    shipment = _shipment_in(S(status), paid_order)
    before = Shipment.objects.values().get(pk=shipment.pk)
    events_before = DomainEvent.objects.count()

    with pytest.raises(InvalidTransition):
        shipment_purchase_label(shipment=shipment, tracking_code="NEW123")

    assert Shipment.objects.values().get(pk=shipment.pk) == before
    assert DomainEvent.objects.count() == events_before


def test_str_and_admin_url(paid_order: Order) -> None:
    shipment = _shipment_in(S.LABEL_PURCHASED, paid_order)

    assert str(shipment) == f"Shipment #{shipment.pk} ({shipment.tracking_code})"
    assert shipment.get_absolute_url() == f"/admin/shipping/shipment/{shipment.pk}/change/"
