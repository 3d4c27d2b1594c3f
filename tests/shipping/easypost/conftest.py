"""EasyPost fixtures: the fake server (tests/support/fake_easypost.py) and settings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from orders.models import Order
from shipping.carriers.base import LabelRequest
from shipping.carriers.easypost.adapter import EasyPostCarrier
from shipping.models import Shipment
from shipping.services import shipment_create
from tests.support.fake_easypost import (
    API_KEY,
    WEBHOOK_SECRET,
    FakeEasyPost,
    serve_fake_easypost,
    sign,
)
from tests.support.loopback import loopback_session
from tests.support.outbound import Sleeps, fast_outbound


@pytest.fixture(autouse=True)
def ep_settings(settings: Any) -> Any:
    settings.EASYPOST_ENABLED = True
    settings.EASYPOST_API_KEY = API_KEY
    settings.EASYPOST_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.EASYPOST_WEBHOOK_SECRET_PREVIOUS = ""
    settings.EASYPOST_CARRIERS = ""
    settings.EASYPOST_FROM_NAME = "Example Store"
    settings.EASYPOST_FROM_COMPANY = ""
    settings.EASYPOST_FROM_STREET1 = "417 Montgomery St"
    settings.EASYPOST_FROM_STREET2 = "Floor 5"
    settings.EASYPOST_FROM_CITY = "San Francisco"
    settings.EASYPOST_FROM_STATE = "CA"
    settings.EASYPOST_FROM_ZIP = "94104"
    settings.EASYPOST_FROM_COUNTRY = "US"
    settings.EASYPOST_FROM_PHONE = "4155559999"
    settings.EASYPOST_FROM_EMAIL = "store@example.test"
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def fake_ep(settings: Any) -> Iterator[FakeEasyPost]:
    with serve_fake_easypost() as fake:
        settings.EASYPOST_API_BASE = fake.url
        yield fake


@pytest.fixture
def carrier() -> EasyPostCarrier:
    return EasyPostCarrier(session_factory=loopback_session, sleep=Sleeps())


def label_request(shipment: Shipment, order: Order, **overrides: Any) -> LabelRequest:
    fields: dict[str, Any] = {
        "reference": f"shipment:{shipment.pk}",
        "service": shipment.service,
        "order_number": order.number,
        "items": 1,
        "declared_amount": order.total_amount,
        "currency": order.currency,
        "recipient_name": "Dr. Steve Brule",
        "recipient_email": "steve@example.test",
        "recipient_phone": "8573875756",
        "destination_postal_code": "93711",
        "destination_street": "E Bullard Ave",
        "destination_number": "179",
        "destination_city": "Fresno",
        "destination_state": "CA",
        "destination_country": "US",
    }
    fields.update(overrides)
    return LabelRequest(**fields)


@pytest.fixture
def ep_shipment(paid_order: Order) -> Shipment:
    return shipment_create(
        order=paid_order, carrier="easypost", service="USPS Priority", cost_amount=1050
    )


@pytest.fixture
def post_ep_webhook(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    def post(body: dict[str, Any] | bytes, signature: str | None = None, **sign_kw: Any) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        header = signature if signature is not None else sign(raw, **sign_kw)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/easypost/",
                data=raw,
                content_type="application/json",
                headers={"X-Hmac-Signature": header},
            )

    return post
