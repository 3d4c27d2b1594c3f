"""The API's rate limit: one budget per client (API key or staff user) and per scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from accounts.access.api_keys import api_key_create
from accounts.access.roles import sync_roles
from orders.models import Order
from tests.factories import make_staff

ORDERS = "/api/v1/orders/"
ORDER = {
    "customer": {"email": "bia@example.test", "name": "Bia Lima"},
    "currency": "BRL",
    "lines": [{"sku": "CAF-250", "description": "Coffee", "quantity": 1, "unit_amount": 4990}],
}
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def three_a_minute(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    cache.clear()
    settings.API_KEY_RATE = "3/min"
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min"},
    }
    # DRF's UserRateThrottle reads its rates once, at import: give it the same, so these tests
    # would catch it back in DEFAULT_THROTTLE_CLASSES (it put every API key in one bucket).
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    yield settings
    cache.clear()


def _key_client(scopes: tuple[str, ...] = ("orders:read",)) -> APIClient:
    _, raw = api_key_create(name="client", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_one_key_using_up_its_budget_leaves_another_key_answering() -> None:
    greedy, other = _key_client(), _key_client()

    codes = [greedy.get(ORDERS).status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    assert [other.get(ORDERS).status_code for _ in range(3)] == [200, 200, 200]
    assert other.get(ORDERS).status_code == 429  # its own budget, just as large
    assert greedy.get(ORDERS).status_code == 429  # and the first key's is still spent


def test_a_keys_scopes_have_separate_buckets() -> None:
    client = _key_client(("orders:read", "orders:write", "usage:write"))

    assert [client.get(ORDERS).status_code for _ in range(4)] == [200, 200, 200, 429]

    placed = client.post(ORDERS, ORDER, format="json")
    assert placed.status_code == 201, placed.content
    usage = {"customer_email": "bia@example.test", "name": "signed_in"}
    assert client.post("/api/v1/usage/", usage, format="json").status_code == 202
    assert client.get(ORDERS).status_code == 429  # reading is still used up


def test_placing_orders_past_the_budget_is_429_and_places_nothing() -> None:
    client = _key_client(("orders:write",))
    codes = [client.post(ORDERS, ORDER, format="json").status_code for _ in range(4)]

    assert codes == [201, 201, 201, 429]
    assert Order.objects.count() == 3


def test_staff_users_have_their_own_budgets_apart_from_api_keys() -> None:
    sync_roles()
    first, second = APIClient(), APIClient()
    first.force_login(make_staff("fin1", role="finance"))
    second.force_login(make_staff("fin2", role="finance"))
    key = _key_client()

    assert [first.get(ORDERS).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get(ORDERS).status_code == 200
    assert key.get(ORDERS).status_code == 200
