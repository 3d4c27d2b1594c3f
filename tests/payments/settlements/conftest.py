"""Settlement import tests: the fake Stripe and fake Asaas on loopback, settings pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import fake_stripe as fake_stripe_module
from tests.support.fake_asaas import API_KEY as ASAAS_KEY
from tests.support.fake_asaas import FakeAsaas, serve_fake_asaas
from tests.support.fake_stripe import API_KEY as STRIPE_KEY
from tests.support.fake_stripe import FakeStripe
from tests.support.outbound import fast_outbound

CLOCK = 1_780_000_000  # 2026-05-28, unix seconds


@pytest.fixture
def fake_stripe(settings: Any) -> Iterator[FakeStripe]:
    for fake in fake_stripe_module.serve():
        fake.clock = CLOCK
        settings.STRIPE_ENABLED = True
        settings.STRIPE_SECRET_KEY = STRIPE_KEY
        settings.STRIPE_API_BASE = fake.url
        fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=1000)
        yield fake


@pytest.fixture
def fake_asaas(settings: Any) -> Iterator[FakeAsaas]:
    with serve_fake_asaas() as fake:
        settings.ASAAS_ENABLED = True
        settings.ASAAS_API_BASE = fake.url
        settings.ASAAS_API_KEY = ASAAS_KEY
        fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=1000)
        yield fake
