"""An order's shipping address, from the API to Melhor Envio's cart: quoted by its CEP, the
label bought for its street and city; an order without one is refused by the carrier (nothing
bought) and stays pending for staff."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from integrations.exceptions import ProviderRejected
from orders.models import Order
from shipping.models import Shipment, ShipmentStatus
from shipping.workflows import shipment_start_for_order
from tests.factories import PaymentFactory
from tests.support.fake_melhor_envio import FakeMelhorEnvio

ADDRESS: dict[str, str] = {
    "name": "Ana Souza",
    "street": "Rua São Francisco Xavier",
    "number": "524",
    "complement": "ap 12",
    "district": "Maracanã",
    "city": "Rio de Janeiro",
    "state": "rj",
    "postal_code": "20271-130",
}
ORDER: dict[str, Any] = {
    "customer": {"email": "ana@example.test", "name": "Ana Souza"},
    "currency": "BRL",
    "lines": [{"sku": "CAF-250", "description": "Coffee", "quantity": 2, "unit_amount": 4990}],
}


def _api() -> APIClient:
    _, raw = api_key_create(name="shop", scopes=["orders:write", "orders:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _place(body: dict[str, Any]) -> Order:
    response = _api().post("/api/v1/orders/", body, format="json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    PaymentFactory.create(order=order, status="succeeded")
    return order


@pytest.fixture
def me_active(settings: Any, fake_me: FakeMelhorEnvio) -> FakeMelhorEnvio:
    settings.SHIPPING_CARRIER = "melhor_envio"
    return fake_me


@pytest.mark.django_db
def test_the_api_stores_the_address_and_answers_it() -> None:
    response = _api().post("/api/v1/orders/", {**ORDER, "shipping_address": ADDRESS}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["shipping_address"] == {
        **ADDRESS,
        "state": "RJ",
        "postal_code": "20271130",
        "country": "BR",
    }
    order = Order.objects.get(number=response.json()["number"])
    assert order.has_shipping_address
    assert order.shipping_address_lines == [
        "Ana Souza",
        "Rua São Francisco Xavier 524, ap 12",
        "Maracanã, Rio de Janeiro",
        "RJ 20271130",
        "BR",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"postal_code": "2027-113"}, "postal_code"),
        ({"country": "B1"}, "country"),
        ({"city": ""}, "city"),
    ],
)
def test_a_bad_address_is_a_400_naming_the_field(change: dict[str, str], field: str) -> None:
    address: dict[str, str] = {**ADDRESS, **change}
    body = {**ORDER, "shipping_address": address}
    response = _api().post("/api/v1/orders/", body, format="json")

    assert response.status_code == 400
    assert field in json.dumps(response.json()["errors"])
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_the_order_address_reaches_the_carrier_quote_and_label(me_active: FakeMelhorEnvio) -> None:
    order = _place({**ORDER, "shipping_address": ADDRESS})

    shipment_start_for_order(order_id=order.pk)

    shipment = Shipment.objects.get(order=order)
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    [quote] = me_active.requests_to("POST", "/me/shipment/calculate")
    assert json.loads(quote.raw)["to"]["postal_code"] == "20271130"
    [cart] = me_active.requests_to("POST", "/me/cart")
    to = json.loads(cart.raw)["to"]
    assert (to["name"], to["address"], to["number"], to["complement"]) == (
        "Ana Souza",
        "Rua São Francisco Xavier",
        "524",
        "ap 12",
    )
    assert (to["district"], to["city"], to["state_abbr"]) == ("Maracanã", "Rio de Janeiro", "RJ")


@pytest.mark.django_db
def test_an_order_without_an_address_is_refused_by_the_carrier_and_nothing_is_bought(
    me_active: FakeMelhorEnvio,
) -> None:
    order = _place(ORDER)

    with pytest.raises(ProviderRejected):
        shipment_start_for_order(order_id=order.pk)

    assert me_active.labels_bought == 0
    assert not Shipment.objects.filter(order=order, status=ShipmentStatus.LABEL_PURCHASED).exists()
