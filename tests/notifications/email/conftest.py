"""E-mail through the fake Resend server (tests/support/fake_resend.py) and anymail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from config.settings.email import RESEND_BACKEND
from tests.support.fake_resend import API_KEY, SIGNING_SECRET, FakeResend, serve_fake_resend
from tests.support.outbound import fast_outbound


@pytest.fixture
def fake_resend(settings: Any) -> Iterator[FakeResend]:
    fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)
    with serve_fake_resend() as fake:
        settings.EMAIL_BACKEND = RESEND_BACKEND
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "RESEND_API_KEY": API_KEY,
            "RESEND_API_URL": fake.url,
            "RESEND_SIGNING_SECRET": SIGNING_SECRET,
        }
        settings.DEFAULT_FROM_EMAIL = "Loja Exemplo <loja@example.test>"
        settings.BUSINESS_NAME = "Loja Exemplo"
        yield fake
