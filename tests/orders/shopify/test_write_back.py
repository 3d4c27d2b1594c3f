"""Issue 12 item 8: a label bought for a Shopify order writes its tracking number and company
back to Shopify's fulfilment (Fulfillment Orders, Admin REST API) through the shared outbound
client, exactly once through 5xx, timeouts and redeliveries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integrations import providers
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import DomainEvent, ProviderCall
from orders.models import Order
from orders.services import order_mark_paid
from orders.sources.shopify.adapter import ShopifyOrderSource
from orders.sources.shopify.client import ShopifyClient
from orders.workflows import order_storefront_fulfillment_report
from shipping.models import Shipment
from shipping.services import shipment_create, shipment_purchase_label
from tests.orders.shopify.conftest import SHOPIFY_ORDER_ID, order_payload
from tests.support.fake_shopify import ACCESS_TOKEN, API_VERSION, FakeShopify

pytestmark = pytest.mark.django_db

ORDER_ID = str(SHOPIFY_ORDER_ID)
FULFILLMENTS = "/fulfillments.json"
TRACKING = "ME00000042BR"


@pytest.fixture
def shopify_order(post_shopify: Any, fake_shopify: FakeShopify) -> Order:
    """An unpaid order pulled from Shopify (nothing shipped yet), known to the fake store."""
    fake_shopify.add_order(ORDER_ID, (466157049, 2), (518995019, 1))
    assert post_shopify(order_payload()).status_code == 200
    return Order.objects.get(source="shopify", external_id=ORDER_ID)


@pytest.fixture
def label_bought(shopify_order: Order) -> DomainEvent:
    """Paid and labelled through the shipping services; the subscribers are not run (no commit
    in the test transaction), so each test runs the write-back itself."""
    order_mark_paid(order=shopify_order)
    shipment = shipment_create(
        order=shopify_order, carrier="melhor_envio", service="Correios PAC #1", cost_amount=2350
    )
    shipment_purchase_label(shipment=shipment, tracking_code=TRACKING)
    return DomainEvent.objects.get(type="shipment.label_purchased")


def _fulfillments(fake: FakeShopify) -> list[dict[str, Any]]:
    return list(fake.orders[ORDER_ID]["fulfillments"])


def test_a_bought_label_becomes_one_shopify_fulfilment_with_its_tracking(
    label_bought: DomainEvent, fake_shopify: FakeShopify, shopify_source: ShopifyOrderSource
) -> None:
    order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)

    [made] = _fulfillments(fake_shopify)
    assert (made["tracking_number"], made["tracking_company"]) == (TRACKING, "Correios")
    assert made["notify_customer"] is False
    assert {(line["id"], line["quantity"]) for line in made["line_items"]} == {
        (466157049, 2),
        (518995019, 1),
    }
    assert fake_shopify.orders[ORDER_ID]["fulfillment_orders"][0]["status"] == "closed"
    [post] = fake_shopify.requests_to("POST", f"/admin/api/{API_VERSION}{FULFILLMENTS}")
    assert post.headers["x-shopify-access-token"] == ACCESS_TOKEN
    sent = json.loads(post.raw)["fulfillment"]
    assert sent["tracking_info"] == {"number": TRACKING, "company": "Correios"}
    assert sent["line_items_by_fulfillment_order"] == [
        {"fulfillment_order_id": fake_shopify.orders[ORDER_ID]["fulfillment_orders"][0]["id"]}
    ]
    calls = ProviderCall.objects.filter(provider="shopify").order_by("id")
    assert [(c.operation, c.status_code) for c in calls] == [
        ("fulfillments.list", 200),
        ("fulfillment_orders.list", 200),
        ("fulfillments.create", 201),
    ]
    order = Order.objects.get(external_id=ORDER_ID)
    assert {(c.subject_type.model if c.subject_type else "", c.subject_id) for c in calls} == {
        ("order", str(order.pk))
    }
    for call in calls:
        assert ACCESS_TOKEN not in f"{call.url} {call.error}"
    event = DomainEvent.objects.get(type="order.storefront_fulfilled")
    assert event.data["outcome"] == "sent"
    assert event.subject_id == str(order.pk)


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_5xx_or_timeout_that_applied_nothing_then_recovery_makes_exactly_one(
    label_bought: DomainEvent,
    fake_shopify: FakeShopify,
    shopify_source: ShopifyOrderSource,
    fault: str,
) -> None:
    fake_shopify.fail("POST", FULFILLMENTS, fault)

    order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)

    assert fake_shopify.fulfillments_created == 1
    assert len(_fulfillments(fake_shopify)) == 1
    assert len(fake_shopify.requests_to("POST", f"/admin/api/{API_VERSION}{FULFILLMENTS}")) == 2
    assert DomainEvent.objects.get(type="order.storefront_fulfilled").data["outcome"] == "sent"


@pytest.mark.parametrize("fault", ["500_after_apply", "timeout_after_apply"])
def test_a_5xx_or_timeout_after_shopify_applied_it_posts_nothing_twice(
    label_bought: DomainEvent,
    fake_shopify: FakeShopify,
    shopify_source: ShopifyOrderSource,
    fault: str,
) -> None:
    fake_shopify.fail("POST", FULFILLMENTS, fault)

    order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)

    assert fake_shopify.fulfillments_created == 1
    assert len(fake_shopify.requests_to("POST", f"/admin/api/{API_VERSION}{FULFILLMENTS}")) == 1
    event = DomainEvent.objects.get(type="order.storefront_fulfilled")
    assert event.data["outcome"] == "already there"


def test_a_store_down_throughout_raises_for_the_relay_to_retry_and_a_later_run_makes_one(
    label_bought: DomainEvent, fake_shopify: FakeShopify, shopify_source: ShopifyOrderSource
) -> None:
    path = f"/orders/{ORDER_ID}/fulfillments.json"
    fake_shopify.fail("GET", path, "500", "500", "500")

    with pytest.raises(ProviderUnavailable):
        order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)
    assert fake_shopify.fulfillments_created == 0
    assert not DomainEvent.objects.filter(type="order.storefront_fulfilled").exists()

    order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)
    order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)

    assert fake_shopify.fulfillments_created == 1
    assert DomainEvent.objects.filter(type="order.storefront_fulfilled").count() == 1


def test_a_wrong_access_token_is_refused_and_nothing_is_made(
    settings: Any,
    label_bought: DomainEvent,
    fake_shopify: FakeShopify,
    shopify_source: ShopifyOrderSource,
) -> None:
    settings.SHOPIFY_ACCESS_TOKEN = "shpat_" + "f" * 32

    with pytest.raises(ProviderRejected) as refused:
        order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)

    assert refused.value.status_code == 401
    assert fake_shopify.fulfillments_created == 0
    assert ProviderCall.objects.filter(provider="shopify").count() == 1, "a 401 is not retried"


def test_an_order_fulfilled_in_shopify_already_gets_no_second_fulfilment(
    label_bought: DomainEvent, fake_shopify: FakeShopify, shopify_source: ShopifyOrderSource
) -> None:
    fake_shopify.close_fulfillment_orders(ORDER_ID)

    order_storefront_fulfillment_report(domain_event_id=label_bought.pk, source=shopify_source)

    assert fake_shopify.requests_to("POST", f"/admin/api/{API_VERSION}{FULFILLMENTS}") == []
    event = DomainEvent.objects.get(type="order.storefront_fulfilled")
    assert event.data["outcome"] == "nothing left to fulfil"


def test_the_fake_refuses_a_fulfilment_of_a_closed_fulfilment_order_as_shopify_does(
    shopify_order: Order, fake_shopify: FakeShopify
) -> None:
    import requests

    session = requests.Session()
    session.trust_env = False
    client = ShopifyClient(session=session)
    [fo] = client.fulfillment_orders(ORDER_ID)
    fake_shopify.close_fulfillment_orders(ORDER_ID)

    with pytest.raises(ProviderRejected) as refused:
        client.create_fulfillment(
            {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}]}
        )

    assert refused.value.status_code == 422
    with pytest.raises(ProviderRejected) as missing:
        client.create_fulfillment({"tracking_info": {"number": TRACKING}})
    assert missing.value.status_code == 400
    assert fake_shopify.fulfillments_created == 0


def test_an_order_placed_here_writes_nothing_to_shopify(
    customer: Any, fake_shopify: FakeShopify, shopify_source: ShopifyOrderSource
) -> None:
    from tests.factories import make_paid_payment

    order = make_paid_payment(customer=customer).order
    shipment = shipment_create(order=order, carrier="sandbox", service="Sandbox Express")
    shipment_purchase_label(shipment=shipment, tracking_code="SB123")
    event = DomainEvent.objects.get(type="shipment.label_purchased")

    order_storefront_fulfillment_report(domain_event_id=event.pk, source=shopify_source)

    assert fake_shopify.seen == []
    assert not DomainEvent.objects.filter(type="order.storefront_fulfilled").exists()


def test_paid_in_shopify_ships_and_writes_the_tracking_back_end_to_end(
    monkeypatch: pytest.MonkeyPatch,
    post_shopify: Any,
    fake_shopify: FakeShopify,
    shopify_source: ShopifyOrderSource,
) -> None:
    """orders/create (paid) -> order.paid -> the sandbox carrier buys a label ->
    shipment.label_purchased -> the subscriber's Delivery -> one fulfilment in Shopify."""
    monkeypatch.setitem(
        providers._adapters, providers.load_spec("orders.sources.shopify").adapter, shopify_source
    )
    fake_shopify.add_order(ORDER_ID, (466157049, 2), (518995019, 1))

    assert post_shopify(order_payload(financial_status="paid")).status_code == 200

    shipment = Shipment.objects.get(order__external_id=ORDER_ID)
    assert shipment.tracking_code
    [made] = _fulfillments(fake_shopify)
    assert made["tracking_number"] == shipment.tracking_code
    assert DomainEvent.objects.get(type="order.storefront_fulfilled").data["outcome"] == "sent"


def test_the_fake_refuses_a_missing_access_token_and_another_api_version(
    shopify_order: Order, fake_shopify: FakeShopify
) -> None:
    import requests

    session = requests.Session()
    session.trust_env = False
    base = f"{fake_shopify.url}/admin/api"
    path = f"orders/{ORDER_ID}/fulfillment_orders.json"

    missing = session.get(f"{base}/{API_VERSION}/{path}", timeout=5)
    other_version = session.get(
        f"{base}/2019-04/{path}", headers={"X-Shopify-Access-Token": ACCESS_TOKEN}, timeout=5
    )
    right = session.get(
        f"{base}/{API_VERSION}/{path}", headers={"X-Shopify-Access-Token": ACCESS_TOKEN}, timeout=5
    )

    assert missing.status_code == 401
    assert "Invalid API key or access token" in missing.json()["errors"]
    assert other_version.status_code == 404
    assert right.status_code == 200
    assert right.json()["fulfillment_orders"][0]["status"] == "open"
