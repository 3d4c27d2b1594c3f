"""Order amounts the API refuses with a 400: a total of 0, and anything past the columns' range."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.models import Customer
from integrations.models import DomainEvent
from orders.exceptions import OrderAmountTooLarge
from orders.models import Order
from orders.services import AMOUNT_MAX, OrderLineInput, order_place, order_totals
from payments.models import Payment
from tests.factories import make_customer

ORDERS = "/api/v1/orders/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> APIClient:
    cache.clear()
    _, raw = api_key_create(name="storefront", scopes=["orders:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _order(*lines: tuple[int, int], **extra: Any) -> dict[str, Any]:
    return {
        "customer": {"email": "bia@example.test", "name": "Bia Lima"},
        "currency": "BRL",
        "lines": [
            {"sku": f"SKU-{i}", "description": "Item", "quantity": qty, "unit_amount": unit}
            for i, (qty, unit) in enumerate(lines)
        ],
        **extra,
    }


def _assert_nothing_written() -> None:
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert not Payment.objects.exists()
    assert not DomainEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        _order((1, 0)),
        _order((3, 0), (1, 0)),
        _order((1, 500), discount_amount=500),
        _order((1, 500), shipping_amount=100, discount_amount=600),
    ],
    ids=["free-line", "free-lines", "discount-equals-order", "discount-equals-with-shipping"],
)
def test_an_order_with_a_total_of_zero_is_a_clear_400(client: APIClient, body: Any) -> None:
    response = client.post(ORDERS, body, format="json")

    assert response.status_code == 400
    assert "total is 0" in response.json()["errors"]["non_field_errors"][0]
    _assert_nothing_written()


def test_an_order_of_one_minor_unit_is_placed(client: APIClient) -> None:
    response = client.post(ORDERS, _order((1, 1)), format="json")

    assert response.status_code == 201, response.content
    assert Order.objects.get().total_amount == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_order((1, 2**63)), "lines"),
        (_order((1, 10**30)), "lines"),
        (_order((1, 100), shipping_amount=2**63), "shipping_amount"),
        (_order((1, 100), discount_amount=2**64), "discount_amount"),
        (_order((2, 2**62)), None),  # the line total overflows: the order rules refuse it
        (_order((10_000, AMOUNT_MAX // 9_999)), None),
        (_order((1, 2**62), (1, 2**62)), None),  # the subtotal overflows
        (_order((1, AMOUNT_MAX), shipping_amount=1), None),
        (_order((10**12, 1)), "lines"),  # past the quantity column too
    ],
)
def test_amounts_past_the_columns_are_a_400_not_a_500(
    client: APIClient, body: Any, field: str | None
) -> None:
    response = client.post(ORDERS, body, format="json")

    assert response.status_code == 400, response.content
    if field is None:
        assert response.json()["code"] == "amount_too_large"
    else:
        assert response.json()["code"] == "invalid"
        assert field in response.json()["errors"]
    _assert_nothing_written()


def test_the_largest_storable_order_is_stored_exactly() -> None:
    customer = make_customer()
    line = OrderLineInput("BIG", "Big", 1, AMOUNT_MAX - 10)

    order = order_place(customer=customer, currency="BRL", lines=[line], shipping_amount=10)

    order.refresh_from_db()
    assert order.total_amount == AMOUNT_MAX
    assert order.lines.get().total_amount == AMOUNT_MAX - 10


def test_the_service_refuses_amounts_it_cannot_store_and_writes_nothing() -> None:
    customer = make_customer()
    with pytest.raises(OrderAmountTooLarge, match="must not exceed"):
        order_place(
            customer=customer, currency="BRL", lines=[OrderLineInput("BIG", "Big", 2, 2**62)]
        )
    with pytest.raises(OrderAmountTooLarge, match="quantity"):
        order_totals(lines=[OrderLineInput("MANY", "Many", 2**31, 1)])
    assert not Order.objects.exists()
    assert not DomainEvent.objects.filter(type="order.placed").exists()
