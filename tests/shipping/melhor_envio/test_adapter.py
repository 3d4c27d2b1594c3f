"""Issue 12 item 1: Melhor Envio quotes, labels, void, tracking refresh and OAuth tokens, against
the local fake server (tests/support/fake_melhor_envio.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from integrations.credentials import credential_get, credential_set
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import ProviderCall, ProviderCredential
from orders.models import Order
from shipping.carriers.base import Parcel, QuoteRequest
from shipping.carriers.melhor_envio.adapter import MelhorEnvioCarrier, volume
from shipping.carriers.melhor_envio.client import MelhorEnvioClient
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_purchase_label
from shipping.workflows import shipment_refresh_tracking, shipment_void_label
from tests.shipping.melhor_envio.conftest import label_request
from tests.support.fake_melhor_envio import FIRST_REFRESH_TOKEN, FakeMelhorEnvio

pytestmark = pytest.mark.django_db(transaction=True)


def _quote_request(**kw: Any) -> QuoteRequest:
    return QuoteRequest(
        **{
            "reference": "order:1",
            "order_number": "SB-000001",
            "items": 2,
            "declared_amount": 15000,
            "currency": "BRL",
            "destination_postal_code": "20271-130",
            "parcels": (Parcel(1250, 305, 200, 95, items=2, declared_amount=15000),),
            **kw,
        }
    )


def test_units_are_converted_at_the_edge() -> None:
    assert volume(Parcel(1250, 305, 200, 95)) == {
        "height": 10,
        "width": 20,
        "length": 31,
        "weight": "1.250",
    }


def test_quote_sends_volumes_in_cm_kg_with_insurance_and_user_agent(
    fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier
) -> None:
    quotes = carrier.quote(request=_quote_request())

    assert [(q.service, q.service_id, q.days) for q in quotes] == [
        ("Correios PAC #1", "1", 8),
        ("Correios SEDEX #2", "2", 2),
    ]  # Mini Envios answered with an error: not offered
    assert quotes[0].amount == 1850 + 500 + 150  # R$ 18,50 + 4 x 1.25 kg + 1% of R$ 150,00
    assert quotes[0].currency == "BRL"
    [sent] = fake_me.requests_to("POST", "/me/shipment/calculate")
    body = json.loads(sent.raw)
    assert body["from"] == {"postal_code": "01001000"} and body["to"] == {"postal_code": "20271130"}
    assert body["volumes"] == [
        {"height": 10, "width": 20, "length": 31, "weight": "1.250", "insurance": "150.00"}
    ]
    assert "products" not in body
    assert sent.headers["user-agent"] == "Switchboard Test (tech@example.test)"
    assert sent.headers["authorization"].startswith("Bearer eyJ0.")


def test_quote_services_setting_and_refusals(
    settings: Any, fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier
) -> None:
    settings.MELHOR_ENVIO_SERVICES = "2"
    assert [q.service_id for q in carrier.quote(request=_quote_request())] == ["2"]
    with pytest.raises(ProviderRejected):
        carrier.quote(request=_quote_request(destination_postal_code=""))
    # The fake refuses what the real API refuses: products and volumes together.
    with pytest.raises(ProviderRejected) as info:
        MelhorEnvioClient().call(
            "quote",
            "POST",
            "me/shipment/calculate",
            body={
                "from": {"postal_code": "01001000"},
                "to": {"postal_code": "20271130"},
                "products": [],
                "volumes": [],
            },
        )
    assert info.value.status_code == 422


def _buy(carrier: MelhorEnvioCarrier, shipment: Shipment) -> Shipment:
    label = carrier.buy_label(request=label_request(shipment, shipment.order))
    return shipment_purchase_label(
        shipment=shipment,
        tracking_code=label.tracking_code,
        provider_shipment_id=label.provider_shipment_id,
        label_url=label.label_url,
    )


def test_label_purchase_end_to_end(
    fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier, me_shipment: Shipment
) -> None:
    shipment = _buy(carrier, me_shipment)

    assert fake_me.labels_bought == 1
    [order] = fake_me.orders.values()
    assert order["status"] == "generated"
    assert order["tags"] == [{"tag": f"shipment:{me_shipment.pk}", "url": None}]
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert shipment.tracking_code == order["self_tracking"]
    assert shipment.provider_shipment_id == order["id"]
    assert shipment.label_url.startswith("https://sandbox.melhorenvio.com.br/imprimir/")
    steps = [(s.method, s.path) for s in fake_me.seen if s.path != "/oauth/token"]
    assert [p for _, p in steps if p.startswith("/me/shipment") or p == "/me/cart"] == [
        "/me/cart",
        "/me/shipment/checkout",
        "/me/shipment/generate",
        "/me/shipment/print",
    ]
    cart = json.loads(fake_me.requests_to("POST", "/me/cart")[0].raw)
    assert cart["service"] == 1 and cart["to"]["postal_code"] == "20271130"
    assert (cart["to"]["address"], cart["to"]["city"], cart["to"]["state_abbr"]) == (
        "Rua São Francisco Xavier",
        "Rio de Janeiro",
        "RJ",
    )
    assert cart["volumes"][0]["weight"] == "0.300"  # one default unit, kg


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        ("/me/cart", "500"),
        ("/me/cart", "timeout"),
        ("/me/cart", "timeout_after_apply"),
        ("/me/shipment/checkout", "500"),
        ("/me/shipment/checkout", "timeout"),
        ("/me/shipment/checkout", "timeout_after_apply"),
        ("/me/shipment/generate", "500"),
        ("/me/shipment/generate", "timeout_after_apply"),
    ],
)
def test_a_carrier_5xx_or_timeout_on_purchase_buys_exactly_one_label(
    fake_me: FakeMelhorEnvio,
    carrier: MelhorEnvioCarrier,
    me_shipment: Shipment,
    path: str,
    fault: str,
) -> None:
    fake_me.fail("POST", path, fault)
    request = label_request(me_shipment, me_shipment.order)
    try:
        label = carrier.buy_label(request=request)
    except ProviderUnavailable:
        label = carrier.buy_label(request=request)  # the task's retry
    again = carrier.buy_label(request=request)  # and a redelivery after success

    assert fake_me.labels_bought == 1
    live = [o for o in fake_me.orders.values() if o["status"] != "pending"]
    assert len(live) == 1
    assert label == again
    assert label.provider_shipment_id == live[0]["id"]


def test_token_is_refreshed_before_it_expires(
    fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier
) -> None:
    access, refresh = fake_me.issue_token()
    credential_set(
        provider="melhor_envio",
        name="access_token",
        value=access,
        expires_at=timezone.now() + timedelta(minutes=5),  # inside the 1 h margin
    )
    credential_set(provider="melhor_envio", name="refresh_token", value=refresh)

    carrier.quote(request=_quote_request())

    paths = [s.path for s in fake_me.seen]
    assert paths == ["/oauth/token", "/me/shipment/calculate"]  # refreshed first, no 401
    new_access = credential_get(provider="melhor_envio", name="access_token")
    new_refresh = credential_get(provider="melhor_envio", name="refresh_token")
    assert new_access is not None and new_refresh is not None
    assert new_access.value != access and new_refresh.value != refresh
    assert new_access.expires_at is not None
    assert new_access.expires_at > timezone.now() + timedelta(days=29)


def test_a_401_refreshes_the_token_once_and_repeats_the_call(
    fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier, json_log: Any
) -> None:
    carrier.quote(request=_quote_request())  # first tokens from the seeded refresh token
    first = credential_get(provider="melhor_envio", name="access_token")
    assert first is not None
    fake_me.expire_all_tokens()  # revoked or expired early: we still think it is valid

    quotes = carrier.quote(request=_quote_request())

    assert quotes
    paths = [s.path for s in fake_me.seen]
    assert paths == [
        "/oauth/token",
        "/me/shipment/calculate",
        "/me/shipment/calculate",  # 401
        "/oauth/token",
        "/me/shipment/calculate",
    ]
    second = credential_get(provider="melhor_envio", name="access_token")
    assert second is not None and second.value != first.value
    # Never logged, never in the ledger, never in the database in clear.
    secrets = [first.value, second.value, FIRST_REFRESH_TOKEN]
    ledger = " ".join(f"{c.url} {c.error}" for c in ProviderCall.objects.all())
    with connection.cursor() as cursor:
        cursor.execute("SELECT ciphertext FROM integrations_providercredential")
        stored = " ".join(row[0] for row in cursor.fetchall())
    for secret in secrets:
        assert secret not in json_log.getvalue()
        assert secret not in ledger
        assert secret not in stored
    assert ProviderCredential.objects.count() == 2


def test_a_refused_refresh_token_is_terminal(
    settings: Any, fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier
) -> None:
    settings.MELHOR_ENVIO_REFRESH_TOKEN = "def50200-revoked"
    with pytest.raises(ProviderRejected, match="authorise the app again"):
        carrier.quote(request=_quote_request())
    assert not fake_me.requests_to("POST", "/me/shipment/calculate")


def test_void_cancels_the_label_and_the_shipment(
    settings: Any, fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier, me_shipment: Shipment
) -> None:
    settings.SHIPPING_CARRIER = "melhor_envio"
    shipment = _buy(carrier, me_shipment)

    shipment = shipment_void_label(shipment_id=shipment.pk, reason="Customer cancelled")

    assert shipment.status == ShipmentStatus.CANCELLED
    assert fake_me.orders[shipment.provider_shipment_id]["status"] == "canceled"
    cancel = json.loads(fake_me.requests_to("POST", "/me/shipment/cancel")[0].raw)
    assert cancel["order"]["id"] == shipment.provider_shipment_id
    assert shipment_void_label(shipment_id=shipment.pk, reason="again").pk == shipment.pk
    assert len(fake_me.requests_to("POST", "/me/shipment/cancel")) == 1


def test_void_of_a_posted_parcel_is_refused_and_changes_nothing(
    fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier, me_shipment: Shipment
) -> None:
    shipment = _buy(carrier, me_shipment)
    fake_me.move(shipment.provider_shipment_id, "posted")

    with pytest.raises(ProviderRejected):
        carrier.void_label(provider_shipment_id=shipment.provider_shipment_id)
    with pytest.raises(ProviderRejected):
        shipment_void_label(shipment_id=shipment.pk, reason="Too late")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED


def test_tracking_refresh_applies_the_history(
    fake_me: FakeMelhorEnvio, carrier: MelhorEnvioCarrier, me_shipment: Shipment, paid_order: Order
) -> None:
    shipment = _buy(carrier, me_shipment)
    now = timezone.now()
    fake_me.move(shipment.provider_shipment_id, "posted", now + timedelta(minutes=10))
    fake_me.move(shipment.provider_shipment_id, "delivered", now + timedelta(minutes=50))

    reported = shipment_refresh_tracking(shipment_id=shipment.pk)
    again = shipment_refresh_tracking(shipment_id=shipment.pk)

    assert reported == again >= 3  # paid, generated, posted, delivered
    shipment.refresh_from_db()
    paid_order.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.tracking_status == "delivered"
    assert paid_order.status == "delivered"
    codes = list(
        shipment.tracking_events.order_by("occurred_at").values_list("carrier_code", flat=True)
    )
    assert codes[-2:] == ["posted", "delivered"]
    assert shipment.tracking_events.count() == reported  # the second refresh added nothing
