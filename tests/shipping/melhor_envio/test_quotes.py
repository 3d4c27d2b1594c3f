"""Issue 12 item 5: quotes from every enabled carrier within a budget, a carrier that is down or
slow skipped, table rates when none answers; the chosen quote kept on the order and shipped.
Carriers: the in-process sandbox, Melhor Envio on its fake server, and the example carrier
(tests/support/example_carrier) at a port with nothing listening."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import resolve
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.access.api_keys import api_key_create
from integrations.models import CircuitBreaker, ProviderCall
from orders.models import Order
from shipping.carriers.base import Quote
from shipping.models import Shipment, ShippingQuote, TableRate
from shipping.selectors import table_rates_for
from shipping.services import (
    table_rate_upsert,
    weight_band,
)
from shipping.workflows import quotes_settle, shipment_start_for_order, shipment_void_label
from tests.support.fake_melhor_envio import FakeMelhorEnvio

pytestmark = pytest.mark.django_db(transaction=True)

QUOTE = {
    "destination_postal_code": "20271-130",
    "declared_amount": 15000,
    "lines": [
        {"quantity": 2, "weight_grams": 500, "length_mm": 200, "width_mm": 150, "height_mm": 50}
    ],
}
BUDGET = 0.6


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def carriers(settings: Any) -> Iterator[Any]:
    cache.clear()
    settings.SHIPPING_CARRIERS = [
        "shipping.carriers.sandbox",
        "shipping.carriers.melhor_envio",
        "tests.support.example_carrier",
    ]
    settings.EXAMPLE_CARRIER_ENABLED = True
    settings.EXAMPLE_CARRIER_URL = _closed_port_url()
    settings.SHIPPING_QUOTE_BUDGET_SECONDS = BUDGET
    settings.SHIPPING_ORIGIN_POSTAL_CODE = ""
    resolve("/api/v1/shipping/quotes/")  # the URLconf's first import is not the quote's time
    yield settings
    assert quotes_settle(timeout=10)  # no carrier call outlives the test


def _client(scopes: tuple[str, ...] = ("shipping:quote",)) -> APIClient:
    _, raw = api_key_create(name="storefront", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _post(client: APIClient, body: dict[str, Any]) -> tuple[Any, float]:
    started = time.monotonic()
    response = client.post("/api/v1/shipping/quotes/", body, format="json")
    return response, time.monotonic() - started


def test_a_slow_and_a_down_carrier_are_skipped_within_the_budget(
    fake_me: FakeMelhorEnvio,
) -> None:
    fake_me.quote_delay = 2.0  # past the budget (its read timeout is 1 s)

    response, took = _post(_client(), QUOTE)

    assert response.status_code == 200, response.content
    body = response.json()
    assert took < BUDGET + 0.5, (took, body)
    assert body["source"] == "carriers"
    assert {o["carrier"] for o in body["options"]} == {"sandbox"}
    assert [o["service"] for o in body["options"]] == ["economy", "express"]  # cheapest first
    assert all(o["source"] == "carrier" for o in body["options"])
    skipped = {s["carrier"]: s["reason"] for s in body["skipped"]}
    assert skipped["melhor_envio"] == f"no answer within {BUDGET:g} s"
    assert skipped["example_carrier"].startswith("ProviderUnavailable")
    assert fake_me.requests_to("POST", "/me/shipment/calculate")  # it was asked
    # The answers kept as table rates: destination prefix 20271, 1 kg band (2 x 500 g).
    rates = TableRate.objects.order_by("service")
    assert [(r.carrier, r.service, r.postal_prefix, r.weight_up_to_grams) for r in rates] == [
        ("sandbox", "economy", "20271", 1000),
        ("sandbox", "express", "20271", 1000),
    ]
    assert rates[0].amount == body["options"][0]["amount"]


def test_every_answering_carrier_is_in_the_options(fake_me: FakeMelhorEnvio) -> None:
    body = _post(_client(), QUOTE)[0].json()

    assert {o["carrier"] for o in body["options"]} == {"sandbox", "melhor_envio"}
    assert [s["carrier"] for s in body["skipped"]] == ["example_carrier"]
    amounts = [o["amount"] for o in body["options"]]
    assert amounts == sorted(amounts)
    assert TableRate.objects.filter(carrier="melhor_envio").count() == 2  # PAC, SEDEX


def test_when_no_carrier_answers_the_table_rates_are_returned_and_marked(
    settings: Any, fake_me: FakeMelhorEnvio
) -> None:
    client = _client()
    _post(client, QUOTE)  # everyone up but the example carrier: the table fills
    settings.SHIPPING_CARRIERS = [
        "shipping.carriers.melhor_envio",
        "tests.support.example_carrier",
    ]
    fake_me.fail("POST", "/me/shipment/calculate", "503")
    before = TableRate.objects.get(carrier="melhor_envio", service="Correios PAC #1")

    response, took = _post(client, QUOTE)

    assert response.status_code == 200
    body = response.json()
    assert took < BUDGET + 0.5
    assert body["source"] == "table"
    assert [(o["carrier"], o["service"], o["source"]) for o in body["options"]] == [
        ("melhor_envio", "Correios PAC #1", "table"),
        ("melhor_envio", "Correios SEDEX #2", "table"),
    ]  # the sandbox is not enabled here: its rates are not offered
    assert body["options"][0]["amount"] == before.amount
    assert body["options"][0]["updated_at"]
    assert {s["carrier"] for s in body["skipped"]} == {"melhor_envio", "example_carrier"}
    assert "503" in {s["carrier"]: s["reason"] for s in body["skipped"]}["melhor_envio"]


def test_nothing_answers_and_no_table_rate_is_still_not_an_error(
    settings: Any, fake_me: FakeMelhorEnvio
) -> None:
    settings.SHIPPING_CARRIERS = ["tests.support.example_carrier"]

    response, _ = _post(_client(), QUOTE)

    assert response.status_code == 200
    assert response.json()["source"] == "table"
    assert response.json()["options"] == []


def test_an_open_breaker_skips_the_carrier_without_calling_it(
    fake_me: FakeMelhorEnvio,
) -> None:
    CircuitBreaker.objects.create(
        provider="melhor_envio",
        state=CircuitBreaker.State.OPEN,
        opened_at=timezone.now(),
    )

    body = _post(_client(), QUOTE)[0].json()

    assert "circuit open" in {s["carrier"]: s["reason"] for s in body["skipped"]}["melhor_envio"]
    assert not fake_me.requests_to("POST", "/me/shipment/calculate")
    assert ProviderCall.objects.filter(provider="melhor_envio", outcome="circuit_open").exists()


def test_refusals_are_problems_and_the_scope_is_needed(fake_me: FakeMelhorEnvio) -> None:
    client = _client()
    both = {
        **QUOTE,
        "volumes": [{"weight_grams": 1, "length_mm": 1, "width_mm": 1, "height_mm": 1}],
    }
    response = client.post("/api/v1/shipping/quotes/", both, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "lines" in response.json()["errors"]
    bad_cep = {**QUOTE, "destination_postal_code": "2!"}
    assert client.post("/api/v1/shipping/quotes/", bad_cep, format="json").status_code == 400

    no_scope = _client(scopes=("orders:write",))
    assert no_scope.post("/api/v1/shipping/quotes/", QUOTE, format="json").status_code == 403
    assert not fake_me.requests_to("POST", "/me/shipment/calculate")


def test_volumes_are_quoted_as_given(fake_me: FakeMelhorEnvio) -> None:
    body = {
        "destination_postal_code": "20271130",
        "origin_postal_code": "04538-133",
        "volumes": [
            {"weight_grams": 2500, "length_mm": 300, "width_mm": 200, "height_mm": 100},
        ],
    }
    response = _post(_client(), body)[0]

    assert response.status_code == 200
    [sent] = fake_me.requests_to("POST", "/me/shipment/calculate")

    sent_body = json.loads(sent.raw)
    assert sent_body["from"] == {"postal_code": "04538133"}
    assert sent_body["volumes"][0]["weight"] == "2.500"
    assert TableRate.objects.filter(weight_up_to_grams=5000).exists()


def test_quotes_kept_on_the_order_and_the_chosen_one_is_shipped(
    fake_me: FakeMelhorEnvio, paid_order: Order, settings: Any
) -> None:
    settings.SHIPPING_CARRIERS = ["shipping.carriers.sandbox", "shipping.carriers.melhor_envio"]
    for shipped in Shipment.objects.filter(order=paid_order):  # order.paid shipped it already
        shipment_void_label(shipment_id=shipped.pk, reason="Customer chose another service")
    client = _client()
    body = _post(client, {**QUOTE, "order": paid_order.number})[0].json()
    kept = {o["id"]: o for o in body["options"]}
    assert set(kept) == set(
        ShippingQuote.objects.filter(order=paid_order).values_list("pk", flat=True)
    )
    express = next(o for o in body["options"] if o["service"] == "express")

    response = client.post(f"/api/v1/shipping/quotes/{express['id']}/choose/")
    assert response.status_code == 200, response.content
    assert response.json()["chosen"] is True

    # Quoting again keeps the chosen one and replaces the others.
    _post(client, {**QUOTE, "order": paid_order.number})
    assert ShippingQuote.objects.get(order=paid_order, chosen=True).pk == express["id"]

    shipment_start_for_order(order_id=paid_order.pk)

    shipment = Shipment.objects.exclude(status="cancelled").get(order=paid_order)
    assert (shipment.carrier, shipment.service) == ("sandbox", "express")  # not the cheapest
    assert shipment.cost_amount == express["amount"]
    response = client.post(f"/api/v1/shipping/quotes/{express['id']}/choose/")
    assert response.status_code == 409
    assert response.json()["code"] == "quote_not_choosable"


def test_table_rates_band_and_longest_prefix(settings: Any) -> None:
    settings.SHIPPING_TABLE_RATE_WEIGHT_BANDS_GRAMS = [300, 1000, 30000]
    assert (weight_band(1), weight_band(300), weight_band(301), weight_band(30001)) == (
        300,
        300,
        1000,
        None,
    )
    quote = Quote(service="PAC", amount=2000, currency="BRL", days=5)
    kept = table_rate_upsert(
        carrier="sandbox", quote=quote, destination_postal_code="20271-130", weight_grams=800
    )
    assert kept is not None and (kept.postal_prefix, kept.weight_up_to_grams) == ("20271", 1000)
    again = table_rate_upsert(
        carrier="sandbox",
        quote=Quote(service="PAC", amount=2100, currency="BRL", days=4),
        destination_postal_code="20271-999",
        weight_grams=1000,
    )
    assert again is not None and again.pk == kept.pk and again.amount == 2100  # upserted
    assert (
        table_rate_upsert(
            carrier="sandbox", quote=quote, destination_postal_code="2027", weight_grams=800
        )
        is None
    )
    TableRate.objects.create(
        carrier="sandbox",
        service="PAC",
        postal_prefix="2",
        weight_up_to_grams=30000,
        amount=5000,
        currency="BRL",
        days=9,
        updated_at=timezone.now(),
    )
    [near] = table_rates_for(
        destination_postal_code="20271-000", weight_grams=900, currency="BRL", carriers=["sandbox"]
    )
    assert near.amount == 2100  # the longest prefix wins
    [far] = table_rates_for(
        destination_postal_code="29000-000", weight_grams=900, currency="BRL", carriers=["sandbox"]
    )
    assert far.amount == 5000
    assert not table_rates_for(
        destination_postal_code="20271-000", weight_grams=900, currency="USD", carriers=["sandbox"]
    )


def test_choosing_needs_no_open_shipment(paid_order: Order) -> None:
    quote = ShippingQuote.objects.create(
        order=paid_order,
        carrier="sandbox",
        service="economy",
        amount=1890,
        currency="BRL",
        days=8,
        source="carrier",
    )
    assert Shipment.objects.filter(order=paid_order).exists()  # order.paid shipped it
    response = _client().post(f"/api/v1/shipping/quotes/{quote.pk}/choose/")
    assert response.status_code == 409
    quote.refresh_from_db()
    assert not quote.chosen
