"""The orders API answers every error as a problem document (RFC 9457) with a stable code: the
order rules' refusals with theirs, DRF's own errors (validation, authentication, scope, not
found, throttling) with DRF's."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.access.api_keys import HasScope, api_key_create
from accounts.models import Customer
from integrations.api_errors import PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX
from integrations.models import DomainEvent
from orders.models import Order, OrderIdempotencyKey

ORDERS = "/api/v1/orders/"
ORDER = {
    "customer": {"email": "bia@example.test", "name": "Bia Lima"},
    "currency": "BRL",
    "lines": [{"sku": "CAF-250", "description": "Coffee", "quantity": 2, "unit_amount": 4990}],
}
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_throttles() -> Any:
    cache.clear()
    yield
    cache.clear()


def _client(*scopes: str) -> APIClient:
    _, raw = api_key_create(name="storefront", scopes=list(scopes or ["orders:write"]))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _assert_nothing_written() -> None:
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert not DomainEvent.objects.exists()
    assert not OrderIdempotencyKey.objects.exists()


def test_an_order_the_rules_refuse_is_a_problem_with_its_code_and_writes_nothing() -> None:
    response = _client().post(
        ORDERS, {**ORDER, "discount_amount": 10_000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json() == {
        "type": f"{PROBLEM_TYPE_PREFIX}discount_exceeds_order",
        "title": "Discount larger than the order",
        "status": 400,
        "detail": "The discount is larger than the order.",
        "code": "discount_exceeds_order",
    }
    _assert_nothing_written()


def test_an_amount_past_the_columns_is_amount_too_large() -> None:
    lines = [{"sku": "BIG", "description": "Big", "quantity": 2, "unit_amount": 2**62}]

    response = _client().post(ORDERS, {**ORDER, "lines": lines}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "amount_too_large"
    assert "must not exceed" in response.json()["detail"]
    _assert_nothing_written()


def test_an_invalid_body_is_a_problem_naming_the_field() -> None:
    client = _client()

    flat = client.post(ORDERS, {**ORDER, "currency": "XXX", "lines": []}, format="json")
    nested = client.post(
        ORDERS, {**ORDER, "customer": {"email": "nope", "name": "X"}}, format="json"
    )

    assert flat.status_code == nested.status_code == 400
    assert flat["Content-Type"] == PROBLEM_CONTENT_TYPE
    problem = flat.json()
    assert problem["code"] == "invalid"
    assert problem["type"] == f"{PROBLEM_TYPE_PREFIX}invalid"
    assert problem["title"] == "Invalid request"
    assert set(problem["errors"]) == {"currency", "lines"}
    assert problem["detail"] == f"currency: {problem['errors']['currency'][0]}"
    assert nested.json()["detail"] == "customer.email: Enter a valid email address."
    _assert_nothing_written()


def test_authentication_and_scope_errors_carry_drf_codes() -> None:
    anonymous = APIClient().get(ORDERS)
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Api-Key sbk_00000000_forged")
    read_only = _client("orders:read")

    bad_key = forged.get(ORDERS)
    no_scope = read_only.post(ORDERS, ORDER, format="json")
    missing = read_only.get(f"{ORDERS}SB-999999/")

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")
    assert anonymous["WWW-Authenticate"] == "Api-Key"
    assert (bad_key.status_code, bad_key.json()["code"]) == (401, "authentication_failed")
    assert bad_key.json()["detail"] == "Invalid, expired or revoked API key."
    assert (no_scope.status_code, no_scope.json()["code"]) == (403, "permission_denied")
    assert no_scope.json()["detail"] == HasScope.message
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    for response in (anonymous, bad_key, no_scope, missing):
        problem = response.json()
        assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
        assert problem["status"] == response.status_code
        assert problem["type"] == f"{PROBLEM_TYPE_PREFIX}{problem['code']}"
        assert problem["title"]
    _assert_nothing_written()


def test_a_reused_idempotency_key_is_a_problem_with_its_code() -> None:
    client = _client()
    first = client.post(ORDERS, ORDER, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    reused = client.post(
        ORDERS, {**ORDER, "currency": "USD"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_throttling_is_a_problem_with_retry_after(settings: Any) -> None:
    settings.API_KEY_RATE = "1/min"
    client = _client("orders:read")

    assert client.get(ORDERS).status_code == 200
    throttled = client.get(ORDERS)

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert throttled.json()["title"] == "Too Many Requests"
    assert 0 < int(throttled["Retry-After"]) <= 60


def test_the_schema_documents_the_problem_answers(admin_client: Any) -> None:
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()

    responses = schema["paths"][ORDERS]["post"]["responses"]
    for status in ("400", "422"):
        (media_type,) = responses[status]["content"]
        assert media_type == PROBLEM_CONTENT_TYPE
        ref = responses[status]["content"][media_type]["schema"]["$ref"]
        assert ref == "#/components/schemas/Problem"
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    assert "errors" in problem["properties"]
