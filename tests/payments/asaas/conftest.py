"""Asaas test fixtures: the fake server (tests/support/fake_asaas.py) and webhook helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from integrations.webhooks.registry import webhook_endpoint_registered
from payments.providers.asaas.adapter import AsaasPaymentProvider
from payments.providers.asaas.webhooks import endpoint as asaas_endpoint
from tests.factories import make_asaas_customer as make_asaas_customer
from tests.support.fake_asaas import API_KEY, WEBHOOK_TOKEN, FakeAsaas, serve_fake_asaas
from tests.support.outbound import Sleeps, fast_outbound

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def fake_asaas(settings: Any) -> Iterator[FakeAsaas]:
    with serve_fake_asaas() as fake:
        settings.ASAAS_API_BASE = fake.url
        settings.ASAAS_API_KEY = API_KEY
        settings.ASAAS_SPLIT = []
        yield fake


@pytest.fixture(autouse=True)
def asaas_settings(settings: Any) -> Any:
    settings.ASAAS_ENABLED = True
    settings.ASAAS_WEBHOOK_TOKEN = WEBHOOK_TOKEN
    settings.ASAAS_API_KEY = API_KEY
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def provider() -> AsaasPaymentProvider:
    def session() -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        return s

    return AsaasPaymentProvider(session_factory=session, sleep=Sleeps())


@pytest.fixture
def asaas_webhooks() -> Iterator[None]:
    with webhook_endpoint_registered(asaas_endpoint):
        yield


def webhook_body(fixture: str, *, event_id: str | None = None, **payment: Any) -> dict[str, Any]:
    """A recorded payload from ``payloads/`` with fields of its ``payment`` replaced."""
    body: dict[str, Any] = json.loads((PAYLOADS / f"{fixture}.json").read_text())
    body["payment"].update(payment)
    if event_id is not None:
        body["id"] = event_id
    return body


@pytest.fixture
def post_webhook(client: Any, django_capture_on_commit_callbacks: Any, asaas_webhooks: None) -> Any:
    def post(body: dict[str, Any] | str, token: str | None = WEBHOOK_TOKEN) -> Any:
        headers = {"asaas-access-token": token} if token is not None else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/asaas/",
                data=body if isinstance(body, str) else json.dumps(body),
                content_type="application/json",
                headers=headers,
            )

    return post


def days_from_today(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()
