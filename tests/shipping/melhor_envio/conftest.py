"""Melhor Envio fixtures: the fake server (tests/support/fake_melhor_envio.py) and settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from orders.models import Order
from shipping.carriers.base import LabelRequest
from shipping.carriers.melhor_envio.adapter import MelhorEnvioCarrier
from shipping.models import Shipment
from shipping.services import shipment_create
from tests.support.fake_melhor_envio import (
    CLIENT_ID,
    CLIENT_SECRET,
    FIRST_REFRESH_TOKEN,
    FakeMelhorEnvio,
    serve_fake_melhor_envio,
    sign,
)
from tests.support.loopback import loopback_session
from tests.support.outbound import Sleeps, fast_outbound


@pytest.fixture(autouse=True)
def me_settings(settings: Any) -> Any:
    settings.MELHOR_ENVIO_ENABLED = True
    settings.MELHOR_ENVIO_CLIENT_ID = CLIENT_ID
    settings.MELHOR_ENVIO_CLIENT_SECRET = CLIENT_SECRET
    settings.MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS = ""
    settings.MELHOR_ENVIO_REFRESH_TOKEN = FIRST_REFRESH_TOKEN
    settings.MELHOR_ENVIO_ACCESS_TOKEN = ""
    settings.MELHOR_ENVIO_TOKEN_URL = ""
    settings.MELHOR_ENVIO_APP_NAME = "Switchboard Test"
    settings.MELHOR_ENVIO_CONTACT_EMAIL = "tech@example.test"
    settings.MELHOR_ENVIO_SERVICES = ""
    settings.MELHOR_ENVIO_FROM_NAME = "Loja Exemplo"
    settings.MELHOR_ENVIO_FROM_PHONE = "11999990000"
    settings.MELHOR_ENVIO_FROM_EMAIL = "loja@example.test"
    settings.MELHOR_ENVIO_FROM_DOCUMENT = "12.345.678/0001-95"
    settings.MELHOR_ENVIO_FROM_POSTAL_CODE = "01001-000"
    settings.MELHOR_ENVIO_FROM_ADDRESS = "Praça da Sé"
    settings.MELHOR_ENVIO_FROM_NUMBER = "1"
    settings.MELHOR_ENVIO_FROM_DISTRICT = "Sé"
    settings.MELHOR_ENVIO_FROM_CITY = "São Paulo"
    settings.MELHOR_ENVIO_FROM_STATE = "SP"
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def fake_me(settings: Any) -> Iterator[FakeMelhorEnvio]:
    with serve_fake_melhor_envio() as fake:
        settings.MELHOR_ENVIO_API_BASE = fake.url
        yield fake


@pytest.fixture
def carrier() -> MelhorEnvioCarrier:
    return MelhorEnvioCarrier(session_factory=loopback_session, sleep=Sleeps())


def label_request(shipment: Shipment, order: Order) -> LabelRequest:
    return LabelRequest(
        reference=f"shipment:{shipment.pk}",
        service=shipment.service,
        order_number=order.number,
        items=1,
        declared_amount=order.total_amount,
        currency=order.currency,
        recipient_name="Ana Souza",
        recipient_email="ana@example.test",
        recipient_phone="+5521987654321",
        destination_postal_code="20271-130",
        destination_street="Rua São Francisco Xavier",
        destination_number="524",
        destination_district="Maracanã",
        destination_city="Rio de Janeiro",
        destination_state="RJ",
        destination_country="BR",
    )


@pytest.fixture
def me_shipment(paid_order: Order) -> Shipment:
    return shipment_create(
        order=paid_order, carrier="melhor_envio", service="Correios PAC #1", cost_amount=2350
    )


@pytest.fixture
def post_me_webhook(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    def post(body: dict[str, Any] | bytes, signature: str | None = None, **sign_kw: Any) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        header = signature if signature is not None else sign(raw, **sign_kw)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/melhor-envio/",
                data=raw,
                content_type="application/json",
                headers={"X-ME-Signature": header},
            )

    return post
