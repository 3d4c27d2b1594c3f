"""``DEMO_CARRIER=melhor_envio``: the demo's seeding path ships through the fake Melhor Envio
server with the real adapter, and the fake's own signed webhooks move the parcels along.

The settings come from ``app_env``, the very environment ``run_demo`` hands its web
server and clusters; tasks run inline here, as the cluster would run them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from config.demo import DEMO_EMAIL_DOMAIN
from config.demo_addresses import demo_address
from config.demo_carrier import forget_carrier_tokens, labelled_shipments, seed_carrier_orders
from config.fake_providers.melhor_envio import (
    DEMO_CLIENT_ID,
    FakeMelhorEnvio,
    app_env,
    serve_fake_melhor_envio,
)
from integrations.credentials import credential_get, credential_set
from integrations.models import ProviderCall, WebhookEvent
from notifications.models import Notification
from orders.models import Order, OrderStatus
from shipping.carriers.melhor_envio.client import ACCESS, PROVIDER, REFRESH
from shipping.models import Shipment, ShipmentStatus
from tests.factories import CustomerFactory
from tests.flow.test_whole_flow import drain_until_quiet

SECRET = "demo-run-secret-0123456789abcdefghij"
REFRESH_TOKEN = "def50200-this-run-refresh-token"


def _apply_env(settings: Any, env: dict[str, str]) -> None:
    """What the settings modules make of that environment (booleans are ``true``)."""
    for name, value in env.items():
        setattr(settings, name, value == "true" if value in ("true", "false") else value)


@pytest.fixture
def demo_fake(settings: Any) -> Iterator[FakeMelhorEnvio]:
    with serve_fake_melhor_envio(
        client_id=DEMO_CLIENT_ID, client_secret=SECRET, refresh_tokens={REFRESH_TOKEN}
    ) as fake:
        _apply_env(
            settings,
            app_env(api_base=fake.url, client_secret=SECRET, refresh_token=REFRESH_TOKEN),
        )
        yield fake


def _demo_customers(count: int) -> list[Any]:
    return [
        CustomerFactory.create(email=f"demo{i}@{DEMO_EMAIL_DOMAIN}", name=f"Demo Customer {i}")
        for i in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_seeded_orders_are_labelled_by_the_fake_through_the_real_adapter(
    demo_fake: FakeMelhorEnvio, settings: Any
) -> None:
    customers = _demo_customers(3)
    orders = seed_carrier_orders(count=2)

    assert len(orders) == 2
    shipments = labelled_shipments(orders, timeout=0)
    assert len(shipments) == 2
    assert demo_fake.labels_bought == 2
    carts = [json.loads(seen.raw) for seen in demo_fake.requests_to("POST", "/me/cart")]
    assert len(carts) == 2
    for shipment, customer in zip(shipments, customers, strict=False):
        order = shipment.order
        assert order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
        assert order.customer_id == customer.pk
        home = demo_address(customer)
        assert (order.ship_to_city, order.ship_to_street) == (home.city, home.street)
        me_order = demo_fake.orders[shipment.provider_shipment_id]
        assert shipment.carrier == "melhor_envio"
        assert shipment.status == ShipmentStatus.LABEL_PURCHASED
        assert shipment.tracking_code == me_order["self_tracking"]
        assert shipment.label_url.startswith("https://sandbox.melhorenvio.com.br/imprimir/")
        assert {"tag": f"shipment:{shipment.pk}", "url": None} in me_order["tags"]
        cart = next(c for c in carts if c["options"]["tags"][0]["tag"] == f"shipment:{shipment.pk}")
        assert cart["to"]["city"] == home.city
        assert cart["to"]["postal_code"] == home.postal_code.replace("-", "")
        assert cart["from"]["city"] == "São Paulo"
    # The real client: the run's refresh token traded once, then bearer calls in the ledger.
    assert len(demo_fake.requests_to("POST", "/oauth/token")) == 1
    operations = set(
        ProviderCall.objects.filter(provider=PROVIDER, outcome="success").values_list(
            "operation", flat=True
        )
    )
    assert {"quote", "label.cart", "label.checkout", "label.generate", "label.print"} <= operations
    # The customer heard the order was paid; a third demo customer got no order.
    assert Notification.objects.filter(template="order_paid").count() >= 2
    assert not Order.objects.filter(customer=customers[2]).exists()


@pytest.mark.django_db(transaction=True)
def test_the_fakes_signed_webhooks_move_the_shipments_to_delivered_and_tell_the_customer(
    demo_fake: FakeMelhorEnvio, live_server: Any, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    demo_fake.webhook_url = f"{live_server.url}/webhooks/melhor-envio/"
    _demo_customers(1)
    [order] = seed_carrier_orders(count=1)
    [shipment] = labelled_shipments([order], timeout=0)

    with demo_fake.courier(posted_after=0, delivered_after=0):
        deadline = time.monotonic() + 30
        while len(demo_fake.webhooks_sent) < 2:
            assert time.monotonic() < deadline, demo_fake.webhooks_sent
            time.sleep(0.1)
    drain_until_quiet()

    assert [(w.event, w.status) for w in demo_fake.webhooks_sent] == [
        ("order.posted", 200),
        ("order.delivered", 200),
    ]
    assert set(WebhookEvent.objects.values_list("provider", "status")) == {
        ("melhor-envio", "processed")
    }
    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert order.status == OrderStatus.DELIVERED
    told = set(
        Notification.objects.filter(customer=order.customer).values_list("template", flat=True)
    )
    assert {"order_paid", "shipment_posted", "shipment_delivered"} <= told


@pytest.mark.django_db
def test_a_new_run_forgets_the_tokens_the_last_runs_fake_issued() -> None:
    for name in (ACCESS, REFRESH):
        credential_set(provider=PROVIDER, name=name, value=f"old-{name}")
    credential_set(provider="other", name=ACCESS, value="kept")

    forget_carrier_tokens()

    assert credential_get(provider=PROVIDER, name=ACCESS) is None
    assert credential_get(provider=PROVIDER, name=REFRESH) is None
    kept = credential_get(provider="other", name=ACCESS)
    assert kept is not None and kept.value == "kept"


@pytest.mark.django_db
def test_without_demo_customers_nothing_is_placed(demo_fake: FakeMelhorEnvio) -> None:
    assert seed_carrier_orders(count=3) == []
    assert not Shipment.objects.exists()
    assert demo_fake.seen == []
