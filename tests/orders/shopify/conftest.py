"""Shopify fixtures: settings, the fake Admin API (tests/support/fake_shopify.py), signed
webhook posts and a realistic order payload (the shape of Shopify's orders/create sample)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from orders.sources.shopify.adapter import ShopifyOrderSource
from tests.support.fake_shopify import (
    ACCESS_TOKEN,
    API_VERSION,
    SHOP,
    WEBHOOK_SECRET,
    FakeShopify,
    serve_fake_shopify,
    sign,
)
from tests.support.outbound import Sleeps, fast_outbound

SHOPIFY_ORDER_ID = 820982911946154508

ORDER: dict[str, Any] = {
    "id": SHOPIFY_ORDER_ID,
    "admin_graphql_api_id": f"gid://shopify/Order/{SHOPIFY_ORDER_ID}",
    "name": "#1001",
    "order_number": 1001,
    "email": "Ana.Souza@Example.test",
    "contact_email": "Ana.Souza@Example.test",
    "phone": None,
    "created_at": "2026-03-02T09:00:00-03:00",
    "updated_at": "2026-03-02T09:00:05-03:00",
    "processed_at": "2026-03-02T09:00:00-03:00",
    "cancelled_at": None,
    "cancel_reason": None,
    "currency": "BRL",
    "presentment_currency": "BRL",
    "financial_status": "pending",
    "fulfillment_status": None,
    "taxes_included": True,
    "total_line_items_price": "289.70",
    "subtotal_price": "279.70",
    "total_discounts": "10.00",
    "total_tax": "0.00",
    "total_price": "298.60",
    "total_shipping_price_set": {
        "shop_money": {"amount": "18.90", "currency_code": "BRL"},
        "presentment_money": {"amount": "18.90", "currency_code": "BRL"},
    },
    "shipping_lines": [{"id": 271878346596884015, "title": "PAC", "price": "18.90"}],
    "customer": {
        "id": 115310627314723954,
        "email": "ana.souza@example.test",
        "first_name": "Ana",
        "last_name": "Souza",
        "phone": "+5521987654321",
    },
    "shipping_address": {
        "first_name": "Ana",
        "last_name": "Souza",
        "name": "Ana Souza",
        "address1": "Rua São Francisco Xavier, 524",
        "address2": "Apto 12",
        "city": "Rio de Janeiro",
        "province": "Rio de Janeiro",
        "province_code": "RJ",
        "zip": "20271-130",
        "country": "Brazil",
        "country_code": "BR",
        "phone": "+5521987654321",
    },
    "line_items": [
        {
            "id": 466157049,
            "variant_id": 39072856,
            "sku": "CAF-250",
            "title": "Café especial 250 g",
            "variant_title": "Moído",
            "quantity": 2,
            "price": "99.90",
            "grams": 250,
        },
        {
            "id": 518995019,
            "variant_id": 49148385,
            "sku": "",
            "title": "Caneca",
            "variant_title": None,
            "quantity": 1,
            "price": "89.90",
            "grams": 400,
        },
    ],
}


def order_payload(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(ORDER)
    payload.update(changes)
    return payload


@pytest.fixture(autouse=True)
def shopify_settings(settings: Any) -> Any:
    settings.SHOPIFY_ENABLED = True
    settings.SHOPIFY_SHOP = SHOP
    settings.SHOPIFY_ACCESS_TOKEN = ACCESS_TOKEN
    settings.SHOPIFY_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.SHOPIFY_WEBHOOK_SECRET_PREVIOUS = ""
    settings.SHOPIFY_API_VERSION = API_VERSION
    settings.SHOPIFY_API_BASE = "http://127.0.0.1:9"  # nothing listens: no call leaves
    settings.SHOPIFY_NOTIFY_CUSTOMER = False
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def fake_shopify(settings: Any) -> Iterator[FakeShopify]:
    with serve_fake_shopify() as fake:
        settings.SHOPIFY_API_BASE = fake.url
        yield fake


@pytest.fixture
def shopify_source() -> ShopifyOrderSource:
    def session() -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        return s

    return ShopifyOrderSource(session_factory=session, sleep=Sleeps())


@pytest.fixture
def post_shopify(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST a webhook as Shopify does; ``signature=None`` signs it with ``secret``."""

    def post(
        body: dict[str, Any] | bytes,
        *,
        topic: str = "orders/create",
        webhook_id: str | None = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        signature: str | None = None,
        secret: str = WEBHOOK_SECRET,
        shop: str = SHOP,
    ) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(raw, secret=secret) if signature is None else signature,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Triggered-At": "2026-03-02T12:00:06.000000Z",
        }
        if webhook_id is not None:
            headers["X-Shopify-Webhook-Id"] = webhook_id
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/shopify/", data=raw, content_type="application/json", headers=headers
            )

    return post
