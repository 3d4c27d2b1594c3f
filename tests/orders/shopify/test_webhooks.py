"""Issue 12 item 8: Shopify orders/create, orders/updated and orders/cancelled webhooks at
/webhooks/shopify/ (X-Shopify-Hmac-Sha256), placing and updating orders through the orders
services, idempotent by Shopify order id, ordered by the order's updated_at."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.models import Customer
from integrations.models import DomainEvent, WebhookEvent, WebhookRejection
from orders.models import Order, OrderStatus
from payments.models import Payment
from tests.orders.shopify.conftest import SHOPIFY_ORDER_ID, order_payload
from tests.support.fake_shopify import sign

pytestmark = pytest.mark.django_db

T_CREATED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
# order.paid starts shipping at once (the sandbox carrier): a paid order may be fulfilling.
PAID_OR_SHIPPING = (OrderStatus.PAID, OrderStatus.FULFILLING)


def _order() -> Order:
    return Order.objects.get(source="shopify", external_id=str(SHOPIFY_ORDER_ID))


def test_a_signed_orders_create_places_the_order_and_customer(post_shopify: Any) -> None:
    response = post_shopify(order_payload())

    assert response.status_code == 200, response.content
    [event] = WebhookEvent.objects.filter(provider="shopify")
    assert (event.event_id, event.event_type, event.status) == (
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "orders/create",
        "processed",
    )
    assert "x-shopify-hmac-sha256" not in {k.lower() for k in event.headers}
    order = _order()
    assert order.status == OrderStatus.PLACED
    assert order.currency == "BRL"
    assert (order.subtotal_amount, order.shipping_amount, order.discount_amount) == (
        28970,
        1890,
        1000,
    )
    assert order.total_amount == 29860
    assert not order.is_flagged, order.flag_reason
    assert order.placed_at == T_CREATED
    assert order.external_updated_at == datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC)
    lines = [
        (line.sku, line.description, line.quantity, line.unit_amount, line.weight_grams)
        for line in order.lines.all()
    ]
    assert lines == [
        ("CAF-250", "Café especial 250 g (Moído)", 2, 9990, 250),
        ("shopify-variant-49148385", "Caneca", 1, 8990, 400),
    ]
    assert order.shipping_address_lines == [
        "Ana Souza",
        "Rua São Francisco Xavier 524, Apto 12",
        "Rio de Janeiro",
        "RJ 20271130",
        "BR",
    ]
    customer = order.customer
    assert (customer.email, customer.name, customer.phone) == (
        "ana.souza@example.test",
        "Ana Souza",
        "+5521987654321",
    )
    assert DomainEvent.objects.filter(type="order.placed", customer=customer).count() == 1
    assert not Payment.objects.filter(order=order).exists(), "Shopify collects the payment"


def test_the_order_is_the_one_the_api_places_for_the_same_data(post_shopify: Any) -> None:
    """The same services as POST /api/v1/orders/: the same customer (found by e-mail), the
    same totals, lines and address."""
    cache.clear()
    _, raw = api_key_create(name="storefront", scopes=["orders:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    through_api = api.post(
        "/api/v1/orders/",
        {
            "customer": {"email": "ana.souza@example.test", "name": "Ana Souza"},
            "currency": "BRL",
            "lines": [
                {
                    "sku": "CAF-250",
                    "description": "Café especial 250 g (Moído)",
                    "quantity": 2,
                    "unit_amount": 9990,
                    "weight_grams": 250,
                },
                {
                    "sku": "shopify-variant-49148385",
                    "description": "Caneca",
                    "quantity": 1,
                    "unit_amount": 8990,
                    "weight_grams": 400,
                },
            ],
            "shipping_amount": 1890,
            "discount_amount": 1000,
            "shipping_address": {
                "name": "Ana Souza",
                "street": "Rua São Francisco Xavier",
                "number": "524",
                "complement": "Apto 12",
                "city": "Rio de Janeiro",
                "state": "RJ",
                "postal_code": "20271-130",
                "country": "BR",
            },
        },
        format="json",
    )
    assert through_api.status_code == 201, through_api.content
    api_order = Order.objects.get(number=through_api.json()["number"])

    assert post_shopify(order_payload()).status_code == 200

    order = _order()
    assert Customer.objects.count() == 1
    assert order.customer_id == api_order.customer_id

    def same(o: Order) -> tuple[Any, ...]:
        address = {f: getattr(o, f) for f in vars(o) if f.startswith("ship_to_")}
        lines = list(
            o.lines.values_list(
                "sku", "description", "quantity", "unit_amount", "total_amount", "weight_grams"
            )
        )
        return (
            o.currency,
            o.subtotal_amount,
            o.shipping_amount,
            o.discount_amount,
            o.total_amount,
            o.status,
            address,
            lines,
        )

    assert same(order) == same(api_order)
    assert (api_order.source, api_order.external_id) == ("", "")


def test_the_same_webhook_twice_places_one_order(post_shopify: Any) -> None:
    assert post_shopify(order_payload()).status_code == 200
    again = post_shopify(order_payload())

    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert WebhookEvent.objects.filter(provider="shopify").count() == 1
    assert Order.objects.count() == 1


def test_the_same_order_under_another_webhook_id_places_no_second_order(
    post_shopify: Any,
) -> None:
    """orders/create and orders/updated both carry the order; a redelivery under a new id (or
    a replay) finds it by its Shopify id."""
    assert post_shopify(order_payload(), webhook_id="w-1").status_code == 200
    assert (
        post_shopify(order_payload(), topic="orders/updated", webhook_id="w-2").status_code == 200
    )
    assert post_shopify(order_payload(), webhook_id=None).status_code == 200

    assert Order.objects.count() == 1
    assert DomainEvent.objects.filter(type="order.placed").count() == 1
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def _moved(street: str, updated_at: str, **changes: Any) -> dict[str, Any]:
    payload = order_payload(updated_at=updated_at, **changes)
    payload["shipping_address"] = {**payload["shipping_address"], "address1": street}
    return payload


def test_an_older_update_arriving_late_changes_nothing(post_shopify: Any) -> None:
    assert post_shopify(order_payload(), webhook_id="w-create").status_code == 200
    newer = _moved("Rua Nova, 10", "2026-03-02T10:00:00-03:00", financial_status="paid")
    older = _moved("Rua Velha, 99", "2026-03-02T09:30:00-03:00")
    assert post_shopify(newer, topic="orders/updated", webhook_id="w-new").status_code == 200

    late = post_shopify(older, topic="orders/updated", webhook_id="w-old")

    assert late.status_code == 200
    order = _order()
    assert (order.ship_to_street, order.ship_to_number) == ("Rua Nova", "10")
    assert order.status in PAID_OR_SHIPPING
    assert order.external_updated_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    assert WebhookEvent.objects.get(event_id="w-old").status == "processed"


def test_an_update_before_its_create_places_the_order_and_the_create_then_changes_nothing(
    post_shopify: Any,
) -> None:
    newer = _moved("Rua Nova, 10", "2026-03-02T10:00:00-03:00")
    assert post_shopify(newer, topic="orders/updated", webhook_id="w-upd").status_code == 200
    assert post_shopify(order_payload(), webhook_id="w-create").status_code == 200

    order = _order()
    assert Order.objects.count() == 1
    assert order.ship_to_street == "Rua Nova"


def test_paid_in_shopify_marks_the_order_paid_once(post_shopify: Any) -> None:
    post_shopify(order_payload(), webhook_id="w-1")
    paid = order_payload(updated_at="2026-03-02T09:05:00-03:00", financial_status="paid")

    post_shopify(paid, topic="orders/updated", webhook_id="w-2")
    post_shopify(
        {**paid, "updated_at": "2026-03-02T09:06:00-03:00"},
        topic="orders/updated",
        webhook_id="w-3",
    )

    order = _order()
    assert order.status in PAID_OR_SHIPPING
    assert DomainEvent.objects.filter(type="order.paid").count() == 1


def test_orders_cancelled_cancels_an_unpaid_order(post_shopify: Any) -> None:
    post_shopify(order_payload(), webhook_id="w-1")
    cancelled = order_payload(
        updated_at="2026-03-02T11:00:00-03:00",
        cancelled_at="2026-03-02T11:00:00-03:00",
        cancel_reason="customer",
        financial_status="voided",
    )

    assert post_shopify(cancelled, topic="orders/cancelled", webhook_id="w-2").status_code == 200

    order = _order()
    assert order.status == OrderStatus.CANCELLED
    assert order.status_changed_at == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    event = DomainEvent.objects.get(type="order.cancelled")
    assert event.data["reason"] == "cancelled in shopify (customer)"


def test_orders_cancelled_on_a_paid_order_flags_it_and_keeps_it_paid(post_shopify: Any) -> None:
    post_shopify(order_payload(financial_status="paid"), webhook_id="w-1")
    assert _order().status in PAID_OR_SHIPPING
    cancelled = order_payload(
        updated_at="2026-03-02T11:00:00-03:00",
        cancelled_at="2026-03-02T11:00:00-03:00",
        cancel_reason="fraud",
        financial_status="refunded",
    )

    post_shopify(cancelled, topic="orders/cancelled", webhook_id="w-2")

    order = _order()
    assert order.status in PAID_OR_SHIPPING
    assert order.is_flagged
    assert "Cancelled in shopify after payment (fraud)" in order.flag_reason
    assert not DomainEvent.objects.filter(type="order.cancelled").exists()


def test_a_cancellation_first_places_the_order_cancelled(post_shopify: Any) -> None:
    cancelled = order_payload(
        updated_at="2026-03-02T11:00:00-03:00", cancelled_at="2026-03-02T11:00:00-03:00"
    )
    post_shopify(cancelled, topic="orders/cancelled", webhook_id="w-2")
    post_shopify(order_payload(), webhook_id="w-1")

    assert _order().status == OrderStatus.CANCELLED


def test_a_total_we_do_not_compute_the_same_is_flagged(post_shopify: Any) -> None:
    """Taxes added on top of prices (taxes_included false) are not itemised here."""
    post_shopify(order_payload(taxes_included=False, total_tax="30.00", total_price="328.60"))

    order = _order()
    assert order.total_amount == 29860
    assert order.is_flagged
    assert "R$ 328,60" in order.flag_reason and "R$ 298,60" in order.flag_reason


@pytest.mark.parametrize(
    "signature",
    ["", "not-a-signature", sign(b"another body"), sign(b"{}").encode().hex()],
)
def test_a_forged_signature_is_401_and_nothing_processed(post_shopify: Any, signature: str) -> None:
    response = post_shopify(order_payload(), signature=signature)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert not Order.objects.exists()
    assert not Customer.objects.exists()
    assert WebhookRejection.objects.filter(provider="shopify").exists()


def test_a_signature_with_a_retired_secret_is_refused_until_listed_as_previous(
    settings: Any, post_shopify: Any
) -> None:
    old = "shpss_" + "0" * 32
    assert post_shopify(order_payload(), secret=old).status_code == 401
    assert not Order.objects.exists()

    settings.SHOPIFY_WEBHOOK_SECRET_PREVIOUS = old
    assert post_shopify(order_payload(), secret=old).status_code == 200
    assert Order.objects.count() == 1


def test_a_webhook_from_another_shop_is_401(post_shopify: Any) -> None:
    response = post_shopify(order_payload(), shop="someone-else.myshopify.com")

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_the_endpoint_is_served_only_while_enabled(settings: Any, post_shopify: Any) -> None:
    settings.SHOPIFY_ENABLED = False
    assert post_shopify(order_payload()).status_code == 404


@pytest.mark.parametrize(
    ("body", "topic"),
    [
        (b"not json", "orders/create"),
        (b"[1, 2]", "orders/create"),
        (json.dumps({"name": "#1001"}).encode(), "orders/create"),
        (json.dumps(order_payload(id="820982911946154508")).encode(), "orders/create"),
        (json.dumps(order_payload(updated_at="yesterday")).encode(), "orders/updated"),
        (json.dumps(order_payload(updated_at="2026-03-02T09:00:05")).encode(), "orders/updated"),
        (json.dumps(order_payload()).encode(), ""),
    ],
)
def test_a_malformed_delivery_is_400_and_nothing_stored(
    post_shopify: Any, body: bytes, topic: str
) -> None:
    response = post_shopify(body, topic=topic)

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert not Order.objects.exists()


def test_an_order_we_cannot_hold_is_stored_and_dead_not_retried(post_shopify: Any) -> None:
    """Signed and well-formed, but in a currency Switchboard does not keep: 200 (Shopify must
    not retry it forever), kept in the inbox as dead for ops, no order."""
    response = post_shopify(order_payload(currency="JPY"))

    assert response.status_code == 200
    [event] = WebhookEvent.objects.all()
    assert event.status == "dead"
    assert "JPY" in event.last_error
    assert not Order.objects.exists()


def test_a_bad_price_is_dead_not_guessed(post_shopify: Any) -> None:
    payload = order_payload()
    payload["line_items"][0]["price"] = "99.901"
    post_shopify(payload)

    assert WebhookEvent.objects.get().status == "dead"
    assert not Order.objects.exists()


def test_other_topics_are_kept_as_ignored(post_shopify: Any) -> None:
    response = post_shopify({"id": 1, "title": "Mug"}, topic="products/update")

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"
