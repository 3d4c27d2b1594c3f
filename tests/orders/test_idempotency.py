"""``Idempotency-Key`` on ``POST /api/v1/orders/``: retries place one order and get one answer."""

from __future__ import annotations

import importlib
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.access.roles import ADMIN, sync_roles
from accounts.models import Customer
from integrations.models import DomainEvent
from integrations.schedules import MAIN, SCHEDULES
from orders import api as orders_api
from orders.models import IDEMPOTENCY_KEY_TTL, Order, OrderIdempotencyKey
from orders.services import order_idempotency_keys_prune
from tests.factories import make_staff

ORDERS = "/api/v1/orders/"
ORDER = {
    "customer": {"email": "bia@example.test", "name": "Bia Lima"},
    "currency": "BRL",
    "payment_method": "pix",
    "lines": [{"sku": "CAF-250", "description": "Coffee", "quantity": 2, "unit_amount": 4990}],
    "shipping_amount": 1990,
}
OTHER_ORDER = {**ORDER, "customer": {"email": "caio@example.test", "name": "Caio Reis"}}


@pytest.fixture(autouse=True)
def _clear_throttles() -> Any:
    cache.clear()
    yield
    cache.clear()


def _key_client() -> APIClient:
    _, raw = api_key_create(name="storefront", scopes=["orders:write", "orders:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _post(client: APIClient, body: dict[str, Any], key: str | None = "order-123") -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(ORDERS, body, format="json", headers=headers)


@pytest.mark.django_db
def test_a_retry_with_the_same_key_and_body_gets_the_same_answer_and_no_second_order() -> None:
    client = _key_client()

    first = _post(client, ORDER)
    retry = _post(client, ORDER)

    assert first.status_code == retry.status_code == 201, first.content
    assert retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Order.objects.count() == 1
    assert DomainEvent.objects.filter(type="order.placed").count() == 1
    kept = OrderIdempotencyKey.objects.get()
    assert kept.key == "order-123"
    assert kept.order == Order.objects.get()
    assert kept.status_code == 201


@pytest.mark.django_db
def test_the_same_body_in_another_key_order_is_the_same_request() -> None:
    client = _key_client()
    first = _post(client, ORDER)
    reordered = dict(reversed(list(ORDER.items())))

    retry = _post(client, reordered)

    assert retry.status_code == 201
    assert retry.content == first.content
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_422_and_places_nothing() -> None:
    client = _key_client()
    first = _post(client, ORDER)

    response = _post(client, OTHER_ORDER)

    assert response.status_code == 422
    assert response.json()["detail"].startswith(
        "This Idempotency-Key was already used with a different request body"
    )
    assert list(Order.objects.values_list("number", flat=True)) == [first.json()["number"]]
    assert not Customer.objects.filter(email="caio@example.test").exists()
    kept = OrderIdempotencyKey.objects.get()
    assert json.loads(kept.response_body) == first.json()  # the first answer, kept as it was


@pytest.mark.django_db
def test_keys_belong_to_one_api_client() -> None:
    sync_roles()
    storefront, marketplace = _key_client(), _key_client()
    staff = APIClient()
    staff.force_login(make_staff("boss", role=ADMIN))

    answers = [_post(client, ORDER) for client in (storefront, marketplace, staff)]

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["number"] for a in answers}) == 3
    assert Order.objects.count() == 3
    assert OrderIdempotencyKey.objects.filter(client__startswith="api_key:").count() == 2
    assert OrderIdempotencyKey.objects.filter(client__startswith="user:").count() == 1
    assert _post(staff, ORDER).content == answers[2].content  # the staff user's own replay


@pytest.mark.django_db
def test_without_a_key_every_post_places_an_order() -> None:
    client = _key_client()

    assert _post(client, ORDER, key=None).status_code == 201
    assert _post(client, ORDER, key=None).status_code == 201

    assert Order.objects.count() == 2
    assert not OrderIdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_after_24_hours_the_key_places_a_new_order() -> None:
    client = _key_client()
    first = _post(client, ORDER)
    OrderIdempotencyKey.objects.update(
        created_at=timezone.now() - IDEMPOTENCY_KEY_TTL - timedelta(seconds=1)
    )

    again = _post(client, OTHER_ORDER)  # even another body: the old use is forgotten

    assert again.status_code == 201
    assert again.json()["number"] != first.json()["number"]
    kept = OrderIdempotencyKey.objects.get()
    assert kept.order is not None and kept.order.number == again.json()["number"]


@pytest.mark.django_db
def test_a_refused_order_keeps_no_answer_so_the_corrected_one_can_use_the_key() -> None:
    client = _key_client()

    refused = _post(client, {**ORDER, "discount_amount": 10**9})
    corrected = _post(client, ORDER)

    assert refused.status_code == 400
    assert corrected.status_code == 201
    assert Order.objects.count() == 1
    assert OrderIdempotencyKey.objects.get().order == Order.objects.get()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "has space", "é-accent", "x" * 256])
def test_a_malformed_key_is_a_400_and_places_nothing(key: str) -> None:
    response = _post(_key_client(), ORDER, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert not Order.objects.exists()
    assert not OrderIdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_racing_requests_with_one_key_place_one_order(monkeypatch: Any) -> None:
    """The first request holds its claim while the second arrives: the second waits on the
    unique constraint (or the database's write lock) and then answers with the first's answer."""
    client = _key_client()
    real_place = orders_api.order_place
    first_is_placing = threading.Event()

    def slow_place(**kwargs: Any) -> Order:
        if not first_is_placing.is_set():
            first_is_placing.set()
            time.sleep(0.5)  # the second request looks, finds no answer yet, and waits
        return real_place(**kwargs)

    monkeypatch.setattr(orders_api, "order_place", slow_place)
    # The throttle writes to the cache, a database table in the embedded profile: it would make
    # the second request wait for the first to commit before it even looks for an answer.
    monkeypatch.setattr(orders_api.OrderListCreate, "throttle_classes", [])
    answers: dict[str, Any] = {}

    def post(name: str) -> None:
        try:
            answers[name] = _post(client, ORDER)
        finally:
            connection.close()

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert first_is_placing.wait(5)
    second = threading.Thread(target=post, args=("second",))
    second.start()
    first.join(10)
    second.join(10)

    assert answers["first"].status_code == answers["second"].status_code == 201
    assert answers["second"].content == answers["first"].content
    assert answers["second"]["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert Customer.objects.count() == 1
    assert OrderIdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_the_prune_job_deletes_expired_keys_only() -> None:
    client = _key_client()
    _post(client, ORDER, key="old")
    _post(client, ORDER, key="new")
    now = timezone.now()
    OrderIdempotencyKey.objects.filter(key="old").update(
        created_at=now - IDEMPOTENCY_KEY_TTL - timedelta(minutes=1)
    )

    assert order_idempotency_keys_prune(now=now) == 1
    assert order_idempotency_keys_prune(now=now) == 0

    assert list(OrderIdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert Order.objects.count() == 2  # the orders stay


@pytest.mark.django_db
def test_the_prune_job_is_scheduled_on_the_main_cluster() -> None:
    job = next(job for job in SCHEDULES if job.name == "orders-idempotency-prune")
    module, name = job.func.rsplit(".", 1)

    assert getattr(importlib.import_module(module), name) is order_idempotency_keys_prune
    assert job.cluster == MAIN
    assert job.minutes <= 60
