"""Stripe enabled for the test: settings pointed at a fake Stripe on 127.0.0.1, the ``stripe``
webhook endpoint registered, and helpers that sign recorded events with the real algorithm."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.webhooks.registry import webhook_endpoint_registered
from payments.providers.stripe.client import sign_payload
from payments.providers.stripe.webhooks import endpoint
from tests.support.fake_stripe import API_KEY, FakeStripe, serve
from tests.support.outbound import fast_outbound

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "whsec_test_current_0123456789"
OLD_SECRET = "whsec_test_previous_9876543210"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    yield from serve()


@pytest.fixture(autouse=True)
def stripe_settings(settings: Any, fake_stripe: FakeStripe) -> Any:
    settings.STRIPE_ENABLED = True
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]
    settings.STRIPE_API_BASE = fake_stripe.url
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    settings.REFUND_DUAL_APPROVAL_THRESHOLD = 10**12  # one approval is enough in these tests
    return fast_outbound(
        settings,
        OUTBOUND_READ_TIMEOUT_SECONDS=0.4,
        OUTBOUND_BACKOFF_MAX_SECONDS=0.05,
        CIRCUIT_BREAKER_MIN_CALLS=1000,
    )


@pytest.fixture(autouse=True)
def stripe_endpoint() -> Iterator[None]:
    with webhook_endpoint_registered(endpoint):
        yield


def _merge(target: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and value and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def load_event(name: str, *, event_id: str, created: int, **obj: Any) -> dict[str, Any]:
    """The recorded event ``fixtures/<name>.json`` with its id, ``created`` and ``data.object``
    fields replaced by ours (ids, amounts, metadata.reference)."""
    event: dict[str, Any] = copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))
    event["id"] = event_id
    event["created"] = created
    _merge(event["data"]["object"], obj)
    return event


def signature(body: str, *, secrets: tuple[str, ...] = (SECRET,), at: int | None = None) -> str:
    """``Stripe-Signature`` for ``body``: ``t=...`` and one ``v1=`` per secret."""
    timestamp = int(time.time()) if at is None else at
    v1s = [sign_payload(body=body, secret=s, timestamp=timestamp).split(",", 1)[1] for s in secrets]
    return ",".join([f"t={timestamp}", *v1s])


Poster = Callable[..., Any]


@pytest.fixture
def post_event(client: Any, django_capture_on_commit_callbacks: Any) -> Poster:
    """POST an event (dict or raw text) to /webhooks/stripe/, signed unless ``header`` is given;
    the inbox processes it on commit. Returns the response."""

    def post(event: dict[str, Any] | str, *, header: str | None = None, **sign: Any) -> Any:
        body = event if isinstance(event, str) else json.dumps(event)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/webhooks/stripe/",
                data=body,
                content_type="application/json",
                headers={
                    "Stripe-Signature": header if header is not None else signature(body, **sign)
                },
            )

    return post
