"""Twilio fixtures: the fake server (tests/support/fake_twilio.py) and settings that select it
for SMS and WhatsApp."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from notifications.channels.twilio.adapter import TwilioChannel
from tests.support.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    serve_fake_twilio,
)
from tests.support.outbound import Sleeps, fast_outbound
from tests.support.whatsapp import customers_wrote_on_whatsapp

CALLBACK_URL = "https://switchboard.example.com/webhooks/twilio/"


@pytest.fixture(autouse=True)
def twilio_settings(settings: Any) -> Any:
    settings.TWILIO_ENABLED = True
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM = FROM_NUMBER
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_STATUS_CALLBACK_URL = CALLBACK_URL
    settings.MESSAGE_CHANNELS = {"email": "email", "whatsapp": "twilio", "sms": "twilio"}
    return fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)


@pytest.fixture
def fake_twilio(settings: Any) -> Iterator[FakeTwilio]:
    with serve_fake_twilio() as fake:
        settings.TWILIO_API_BASE = fake.url
        yield fake


@pytest.fixture
def channel() -> TwilioChannel:
    def session() -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        return s

    return TwilioChannel(session_factory=session, sleep=Sleeps())


@pytest.fixture
def post_twilio(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """POST a form body to /webhooks/twilio/ signed as Twilio signs it (processed inline)."""
    from tests.support.fake_twilio import twilio_signature

    def post(
        params: dict[str, str],
        *,
        signature: str | None = None,
        url: str = CALLBACK_URL,
        raw: bytes | None = None,
    ) -> Any:
        sig = signature if signature is not None else twilio_signature(AUTH_TOKEN, url, params)
        body = raw if raw is not None else urlencode(params).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/twilio/",
                data=body,
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": sig},
            )

    return post


@pytest.fixture(autouse=True)
def window_open() -> Iterator[None]:
    """Free text goes out on WhatsApp only inside its 24-hour window (the send policy; tested in
    tests/notifications/test_policy_whatsapp.py): every customer made here wrote to us first."""
    with customers_wrote_on_whatsapp("twilio"):
        yield
