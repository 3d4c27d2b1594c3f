from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create, api_key_revoke
from accounts.access.exceptions import ApiKeyNotAllowed
from accounts.models import ApiKey, Customer
from integrations.models import DomainEvent
from orders.models import Order

ORDER = {
    "customer": {"email": "Bia@Example.test", "name": "Bia Lima", "phone": "(11) 98765-4321"},
    "currency": "BRL",
    "payment_method": "pix",
    "lines": [
        {"sku": "CAF-250", "description": "Coffee 250 g", "quantity": 2, "unit_amount": 4990},
        {"sku": "MUG-01", "description": "Mug", "quantity": 1, "unit_amount": 5900},
    ],
    "shipping_amount": 1990,
}


@pytest.fixture(autouse=True)
def _clear_throttle_cache():
    cache.clear()


def _client(scopes=("orders:write", "orders:read", "usage:write"), **kw):
    key, raw = api_key_create(name="storefront", scopes=list(scopes), **kw)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client, key


@pytest.mark.django_db
def test_place_order_with_an_api_key():
    client, key = _client()
    response = client.post("/api/v1/orders/", ORDER, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert body["total_amount"] == 2 * 4990 + 5900 + 1990 == order.total_amount
    assert body["status"] == "placed"
    assert order.payment_method == "pix"
    assert order.customer.email == "bia@example.test"
    assert order.customer.phone == "+5511987654321"
    assert DomainEvent.objects.filter(type="order.placed", customer=order.customer).count() == 1
    key.refresh_from_db()
    assert key.last_used_at is not None
    again = client.post("/api/v1/orders/", ORDER, format="json")
    assert again.status_code == 201
    assert Customer.objects.count() == 1  # the same customer, found by e-mail


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"lines": []}, "invalid", "lines"),
        ({"currency": "XXX"}, "invalid", "currency"),
        ({"discount_amount": 10**9}, "discount_exceeds_order", None),  # the order rules' refusal
        ({"customer": {"email": "nope", "name": "X"}}, "invalid", "customer"),
        ({"customer": {"email": "a@b.test", "name": "X", "phone": "123"}}, "invalid", "customer"),
    ],
)
def test_bad_orders_get_a_clear_400_and_write_nothing(change, code, field):
    client, _ = _client()
    response = client.post("/api/v1/orders/", {**ORDER, **change}, format="json")
    problem = response.json()
    assert response.status_code == problem["status"] == 400
    assert problem["code"] == code
    if field is not None:
        assert field in problem["errors"]
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_keys_need_the_scope_and_must_be_live():
    read_only, _ = _client(scopes=["orders:read"])
    assert read_only.post("/api/v1/orders/", ORDER, format="json").status_code == 403
    assert read_only.get("/api/v1/orders/").status_code == 200
    revoked, key = _client()
    api_key_revoke(key=key)
    assert revoked.post("/api/v1/orders/", ORDER, format="json").status_code == 401
    expired, key = _client()
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expired.get("/api/v1/orders/").status_code == 401
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Api-Key sbk_{key.prefix}_not-the-secret")
    assert forged.get("/api/v1/orders/").status_code == 401
    assert APIClient().get("/api/v1/orders/").status_code in (401, 403)
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_keys_are_stored_hashed_and_shown_once():
    key, raw = api_key_create(name="x", scopes=["orders:read"])
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in str(stored)
    assert raw.startswith(f"sbk_{key.prefix}_")
    with pytest.raises(ApiKeyNotAllowed, match="Unknown scopes"):
        api_key_create(name="x", scopes=["root"])


@pytest.mark.django_db
def test_per_key_throttle_answers_429(settings):
    settings.API_KEY_RATE = "3/min"
    client, _ = _client()
    codes = [client.get("/api/v1/orders/").status_code for _ in range(5)]
    other, _ = _client()
    assert codes == [200, 200, 200, 429, 429]
    assert other.get("/api/v1/orders/").status_code == 200  # limits are per key


@pytest.mark.django_db
def test_read_orders_and_send_usage():
    client, _ = _client()
    number = client.post("/api/v1/orders/", ORDER, format="json").json()["number"]
    detail = client.get(f"/api/v1/orders/{number}/")
    assert detail.status_code == 200
    assert [line["sku"] for line in detail.json()["lines"]] == ["CAF-250", "MUG-01"]
    assert client.get("/api/v1/orders/SB-999999/").status_code == 404
    listing = client.get("/api/v1/orders/").json()
    assert [o["number"] for o in listing["results"]] == [number]
    usage = client.post(
        "/api/v1/usage/",
        {
            "customer_email": "bia@example.test",
            "name": "feature_used",
            "properties": {"feature": "reports"},
        },
        format="json",
    )
    # The single-event body from before batches is still taken (as a batch of one).
    assert usage.status_code == 202
    assert usage.json()["accepted"] == 1
    assert DomainEvent.objects.filter(type="usage.tracked").count() == 1
    unknown = client.post(
        "/api/v1/usage/", {"customer_email": "who@x.test", "name": "signed_in"}, format="json"
    )
    # An unknown customer is quarantined (kept, releasable), no longer refused.
    assert unknown.status_code == 202
    assert unknown.json()["results"][0]["status"] == "quarantined"
    assert DomainEvent.objects.filter(type="usage.tracked").count() == 1


@pytest.mark.django_db
def test_openapi_schema_documents_the_endpoints(admin_client):
    response = admin_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/orders/" in response.content


@pytest.mark.django_db
def test_lines_take_optional_weight_and_dimensions():
    """Issue 12 item 3: package data per line, optional, stored and answered."""
    client, _ = _client()
    book = {"weight_grams": 400, "length_mm": 230, "width_mm": 160, "height_mm": 30}
    first: dict[str, object] = {
        "sku": "CAF-250",
        "description": "Coffee 250 g",
        "quantity": 2,
        "unit_amount": 4990,
    }
    second = {"sku": "MUG-01", "description": "Mug", "quantity": 1, "unit_amount": 5900}
    lines = [{**first, **book}, second]
    response = client.post("/api/v1/orders/", {**ORDER, "lines": lines}, format="json")
    assert response.status_code == 201, response.content
    answered = response.json()["lines"]
    assert {k: answered[0][k] for k in book} == book
    assert answered[1]["weight_grams"] is None
    order = Order.objects.get(number=response.json()["number"])
    assert order.lines.get(sku="CAF-250").height_mm == 30
    bad = client.post(
        "/api/v1/orders/",
        {**ORDER, "lines": [{**first, "weight_grams": 0}]},
        format="json",
    )
    assert bad.status_code == 400
    assert Order.objects.count() == 1
