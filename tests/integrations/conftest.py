"""Fixtures for replaying captured webhook sequences (tests/support/replay.py) and for the flows
that capture them (tests/integrations/replay_flows.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from integrations.webhooks.registry import webhook_endpoint_registered
from tests.support.fake_asaas import API_KEY as ASAAS_API_KEY
from tests.support.fake_asaas import WEBHOOK_TOKEN, FakeAsaas, serve_fake_asaas
from tests.support.fake_stripe import API_KEY as STRIPE_API_KEY
from tests.support.fake_stripe import FakeStripe, serve
from tests.support.outbound import fast_outbound
from tests.support.replay import ReplayResult, replay_folder

STRIPE_TEST_SECRET = "whsec_test_replay_0123456789"


@pytest.fixture
def replay(client: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., ReplayResult]:
    """``replay(folder, substitute={...}, only=...)``: the folder's deliveries through the real
    receiver, signed with the test secrets, each processed after its commit."""
    return partial(
        replay_folder, client=client, capture_on_commit=django_capture_on_commit_callbacks
    )


@pytest.fixture
def stripe_fake(settings: Any) -> Iterator[FakeStripe]:
    """Stripe enabled against a fresh fake (its ids count from 1 again), the endpoint served."""
    from payments.providers.stripe.webhooks import endpoint

    for fake in serve():
        settings.STRIPE_ENABLED = True
        settings.STRIPE_SECRET_KEY = STRIPE_API_KEY
        settings.STRIPE_WEBHOOK_SECRETS = [STRIPE_TEST_SECRET]
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
        settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
        settings.PAYMENT_PROVIDER = "stripe"
        settings.REFUND_DUAL_APPROVAL_THRESHOLD = 10**12
        fast_outbound(settings, OUTBOUND_READ_TIMEOUT_SECONDS=0.4, CIRCUIT_BREAKER_MIN_CALLS=1000)
        with webhook_endpoint_registered(endpoint):
            yield fake


@pytest.fixture
def asaas_fake(settings: Any) -> Iterator[FakeAsaas]:
    """Asaas enabled against a fresh fake, the endpoint served with the test token."""
    from payments.providers.asaas.webhooks import endpoint

    with serve_fake_asaas() as fake:
        settings.ASAAS_ENABLED = True
        settings.ASAAS_API_BASE = fake.url
        settings.ASAAS_API_KEY = ASAAS_API_KEY
        settings.ASAAS_SPLIT = []
        settings.ASAAS_WEBHOOK_TOKEN = WEBHOOK_TOKEN
        settings.PAYMENT_PROVIDER = "asaas"
        settings.REFUND_DUAL_APPROVAL_THRESHOLD = 10**12
        fast_outbound(settings, CIRCUIT_BREAKER_MIN_CALLS=100)
        with webhook_endpoint_registered(endpoint):
            yield fake


@pytest.fixture
def sandbox_payments(settings: Any) -> Iterator[None]:
    """The sandbox payment provider, owing its webhooks as rows. The test is their sender: it
    holds the sender's lease, so no sender task starts (``sandbox_wake``) and tries to POST
    them over HTTP to a server that is not running."""
    from django.core.cache import cache

    from integrations.sandbox import SENDER_LOCK_KEY

    settings.PAYMENT_PROVIDER = "sandbox"
    settings.SANDBOX_SEND_WEBHOOKS = True
    settings.SANDBOX_CHAOS_DUPLICATE_RATE = 0.0
    settings.SANDBOX_CHAOS_REORDER = False
    settings.SANDBOX_CHAOS_FAILURE_RATE = 0.0
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = 10**12
    cache.set(SENDER_LOCK_KEY, "the test delivers them", 3600)
    yield
    cache.delete(SENDER_LOCK_KEY)
