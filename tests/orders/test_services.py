import pytest

from integrations.exceptions import InvalidTransition
from integrations.models import DomainEvent
from orders.exceptions import OrderNotAllowed
from orders.models import Order, OrderStatus
from orders.services import (
    OrderLineInput,
    order_cancel,
    order_mark_delivered,
    order_mark_paid,
    order_mark_refunded,
    order_mark_shipped,
    order_place,
)
from tests.factories import events_for, make_order


def test_order_place_computes_totals_from_lines(customer):
    order = order_place(
        customer=customer,
        currency="brl",
        lines=[
            OrderLineInput("A", "Coffee", 2, 4_990),
            OrderLineInput("B", "Mug", 1, 5_900),
        ],
        shipping_amount=1_990,
        discount_amount=1_000,
    )
    assert order.number == f"SB-{order.pk:06d}"
    assert (order.subtotal_amount, order.total_amount, order.currency) == (15_880, 16_870, "BRL")
    assert order.status == OrderStatus.PLACED
    assert [line.total_amount for line in order.lines.all()] == [9_980, 5_900]
    event = DomainEvent.objects.get(type="order.placed")
    assert event.data["amount"] == 16_870 and event.customer == customer


@pytest.mark.parametrize(
    ("lines", "kw", "message"),
    [
        ([], {}, "at least one line"),
        ([OrderLineInput("A", "x", 0, 100)], {}, "Quantities"),
        ([OrderLineInput("A", "x", 1, -1)], {}, "Quantities"),
        ([OrderLineInput("A", "x", 1, 100)], {"discount_amount": 101}, "discount"),
        ([OrderLineInput("A", "x", 1, 100)], {"shipping_amount": -1}, "cannot be negative"),
    ],
)
def test_order_place_refuses_bad_orders_and_writes_nothing(customer, lines, kw, message):
    with pytest.raises(OrderNotAllowed, match=message):
        order_place(customer=customer, currency="BRL", lines=lines, **kw)
    assert not Order.objects.exists()


def test_happy_lifecycle(db):
    order = make_order()
    order = order_mark_paid(order=order)
    order = order_mark_shipped(order=order)
    order = order_mark_delivered(order=order)
    order = order_mark_refunded(order=order)
    assert order.status == OrderStatus.REFUNDED
    types = list(events_for(order).order_by("id").values_list("type", flat=True))
    assert types == [
        "order.placed",
        "order.paid",
        "order.shipped",
        "order.delivered",
        "order.refunded",
    ]


@pytest.mark.parametrize(
    ("prepare", "attempt"),
    [
        ([], order_mark_shipped),
        ([], order_mark_delivered),
        ([order_mark_paid], order_mark_paid),
        ([order_mark_paid, order_mark_shipped], order_mark_paid),
    ],
)
def test_refused_transition_changes_nothing(db, prepare, attempt):
    order = make_order()
    for step in prepare:
        order = step(order=order)
    status, events = order.status, DomainEvent.objects.count()
    with pytest.raises(InvalidTransition):
        attempt(order=order)
    order.refresh_from_db()
    assert order.status == status
    assert DomainEvent.objects.count() == events


def test_cancel_needs_a_reason_and_only_before_payment(db):
    order = make_order()
    with pytest.raises(OrderNotAllowed, match="reason"):
        order_cancel(order=order, reason=" ")
    paid = order_mark_paid(order=make_order())
    with pytest.raises(InvalidTransition):
        order_cancel(order=paid, reason="too late")
    assert order_cancel(order=order, reason="changed mind").status == OrderStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        order_mark_paid(order=order)


def test_admin_place_again_creates_a_new_order_with_the_same_lines(client, admin_user):
    from django.urls import reverse

    original = make_order(amount=4_990)
    Order.objects.filter(pk=original.pk).update(
        ship_to_name="Ana Souza",
        ship_to_street="Rua Augusta",
        ship_to_number="1500",
        ship_to_city="São Paulo",
        ship_to_state="SP",
        ship_to_postal_code="01304001",
        ship_to_country="BR",
    )
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "place_again", "_selected_action": [original.pk]},
    )
    assert response.status_code == 302
    new = Order.objects.exclude(pk=original.pk).get()
    assert new.customer == original.customer
    assert new.total_amount == original.total_amount
    assert [(line.sku, line.quantity) for line in new.lines.all()] == [("SKU-1", 1)]
    # It ships where the original did: a carrier refuses a label without the address.
    assert new.shipping_address_lines == [
        "Ana Souza",
        "Rua Augusta 1500",
        "São Paulo",
        "SP 01304001",
        "BR",
    ]
    assert DomainEvent.objects.get(type="order.placed", subject_id=str(new.pk)).actor == admin_user
