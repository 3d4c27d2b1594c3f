"""Fixtures of the send policy's tests (tests/notifications/test_policy*.py): the fake Twilio
carrying SMS and WhatsApp, and a signed POST to /webhooks/twilio/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilio,
    serve_fake_twilio,
    twilio_signature,
)
from tests.support.outbound import fast_outbound

CALLBACK_URL = "https://switchboard.example.com/webhooks/twilio/"


@pytest.fixture
def policy_twilio(settings: Any) -> Iterator[FakeTwilio]:
    """Twilio carries SMS and WhatsApp, against a fake on loopback."""
    settings.TWILIO_ENABLED = True
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM = FROM_NUMBER
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_STATUS_CALLBACK_URL = CALLBACK_URL
    settings.MESSAGE_CHANNELS = {"email": "email", "whatsapp": "twilio", "sms": "twilio"}
    fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)
    with serve_fake_twilio() as fake:
        settings.TWILIO_API_BASE = fake.url
        yield fake


@pytest.fixture
def policy_post_twilio(client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    def post(params: dict[str, str]) -> Any:
        body = urlencode(params).encode()
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/twilio/",
                data=body,
                content_type="application/x-www-form-urlencoded",
                headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, CALLBACK_URL, params)},
            )

    return post
