"""GET /api/v1/customers/{id}/context/ (scope customers:read) and the export document."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from accounts.customers.export import customer_export
from accounts.models import AuditLogEntry
from notifications.consent.services import consent_opt_out
from orders.models import Order, OrderStatus
from tests.factories import make_customer, make_order, make_paid_payment, make_staff

pytestmark = pytest.mark.django_db


def _client(*scopes: str) -> APIClient:
    _, raw = api_key_create(name="product", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _url(customer_id: int) -> str:
    return reverse("api-customer-context", args=[customer_id])


def test_context_sums_lifetime_value_per_currency_and_says_consent_per_channel():
    ana = make_customer(email="ana@example.test")
    make_paid_payment(order=make_order(customer=ana, amount=12_000))
    make_paid_payment(order=make_order(customer=ana, amount=3_000))
    make_order(customer=ana, amount=999)  # placed, unpaid: not lifetime value
    consent_opt_out(customer=ana, channel="whatsapp", source="staff")

    body = _client("customers:read").get(_url(ana.pk)).json()

    assert body["customer"]["id"] == ana.pk
    assert body["orders"]["count"] == 3
    paid = Order.objects.filter(customer=ana).exclude(status=OrderStatus.PLACED)
    assert body["orders"]["lifetime_value"] == [
        {"currency": "BRL", "amount": sum(o.total_amount for o in paid), "orders": 2}
    ]
    assert body["orders"]["last_order"]["number"] == Order.objects.latest("placed_at", "id").number
    assert body["payments"]["payments_by_status"].get("succeeded", 0) >= 2
    assert body["payments"]["open_refunds"] == {"count": 0, "amounts": []}
    assert body["consent"]["whatsapp"]["state"] == "opted_out"
    assert body["consent"]["email"] == {"state": "unknown", "since": None}
    assert set(body["usage"]) == {
        "first_seen_at",
        "last_seen_at",
        "active_days_7",
        "active_days_30",
    }


def test_context_needs_the_customers_read_scope_and_a_known_customer():
    ana = make_customer()
    assert _client("orders:read").get(_url(ana.pk)).status_code == 403
    assert APIClient().get(_url(ana.pk)).status_code in (401, 403)
    assert _client("customers:read").get(_url(ana.pk + 999)).status_code == 404


def test_context_query_count_does_not_grow_with_orders():
    """14 queries build the answer (customer, orders 3, payments 3, shipments 2, usage 3,
    consent 1, the health score's recent problems 1); the rest are the API key's authentication and the throttle's, which depend on
    the profile's cache (the database cache on the embedded profile, Redis on the scaled one).
    The same count for 1 order and for 8, and at most 21 on either profile."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ana = make_customer()
    client = _client("customers:read")

    def count() -> int:
        client.get(_url(ana.pk))  # warm: the key's last-used stamp
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url(ana.pk)).status_code == 200
        return len(queries)

    make_paid_payment(order=make_order(customer=ana, amount=5_000))
    one = count()
    for _ in range(7):
        make_paid_payment(order=make_order(customer=ana, amount=5_000))
    assert count() == one
    assert 14 <= one <= 21


def test_export_is_audited_and_keeps_money_in_minor_units():
    ana = make_customer(email="ana@example.test")
    make_paid_payment(order=make_order(customer=ana, amount=12_345))
    support = make_staff("support", role="support")

    document = customer_export(customer=ana, actor=support)

    order = document["orders"][0]
    assert (order["total_amount"], order["currency"]) == (12_345, "BRL")
    assert order["lines"] and isinstance(order["lines"][0]["unit_amount"], int)
    for section in (
        "identifiers",
        "notes",
        "payments",
        "refunds",
        "disputes",
        "shipments",
        "notifications",
        "consent_ledger",
        "message_preferences",
        "usage",
        "timeline",
    ):
        assert section in document, section
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.EXPORT)
    assert (entry.actor, entry.object_id) == (support, str(ana.pk))
