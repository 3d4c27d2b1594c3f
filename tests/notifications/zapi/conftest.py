"""Z-API fixtures: the fake server (tests/support/fake_zapi.py) and settings that select it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from notifications.channels.zapi.adapter import ZapiWhatsAppChannel
from tests.support.fake_zapi import (
    CLIENT_TOKEN,
    INSTANCE_ID,
    INSTANCE_TOKEN,
    WEBHOOK_TOKEN,
    FakeZapi,
    serve_fake_zapi,
)
from tests.support.outbound import Sleeps, fast_outbound
from tests.support.whatsapp import customers_wrote_on_whatsapp


@pytest.fixture(autouse=True)
def zapi_settings(settings: Any) -> Any:
    settings.ZAPI_ENABLED = True
    settings.ZAPI_INSTANCE_ID = INSTANCE_ID
    settings.ZAPI_INSTANCE_TOKEN = INSTANCE_TOKEN
    settings.ZAPI_CLIENT_TOKEN = CLIENT_TOKEN
    settings.ZAPI_WEBHOOK_TOKEN = WEBHOOK_TOKEN
    settings.ZAPI_WEBHOOK_TOKEN_PREVIOUS = ""
    settings.MESSAGE_CHANNELS = {"email": "email", "whatsapp": "zapi"}
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def fake_zapi(settings: Any) -> Iterator[FakeZapi]:
    with serve_fake_zapi() as fake:
        settings.ZAPI_API_BASE = fake.url
        yield fake


@pytest.fixture
def channel() -> ZapiWhatsAppChannel:
    def session() -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        return s

    return ZapiWhatsAppChannel(session_factory=session, sleep=Sleeps())


@pytest.fixture
def post_zapi(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST a callback body to /webhooks/zapi/<token>/ as Z-API would (processed inline)."""

    def post(
        body: dict[str, Any] | bytes,
        *,
        token: str = WEBHOOK_TOKEN,
        client_token: str | None = CLIENT_TOKEN,
    ) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Client-Token": client_token} if client_token is not None else {}
        path = f"/webhooks/zapi/{token}/" if token else "/webhooks/zapi/"
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, data=raw, content_type="application/json", headers=headers)

    return post


@pytest.fixture(autouse=True)
def window_open() -> Iterator[None]:
    """Free text goes out on WhatsApp only inside its 24-hour window (the send policy; tested in
    tests/notifications/test_policy_whatsapp.py): every customer made here wrote to us first."""
    with customers_wrote_on_whatsapp("zapi"):
        yield
