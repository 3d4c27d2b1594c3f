"""Property: a correctly signed hostile body to any Standard Webhooks endpoint (the test endpoint
and the three sandbox ones) never gets a 5xx, a refused one stores nothing, processing it never
raises, and the admin renders whatever the receiver stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from tests.integrations.webhooks.hostile import hostile_body
from tests.integrations.webhooks.support import PROVIDER

pytestmark = pytest.mark.django_db

ENDPOINTS = [PROVIDER, "sandbox-payments", "sandbox-shipping", "sandbox-messaging"]
TYPES = [
    "customer.linked",
    "order.paid",
    "test.explode",
    "payment.succeeded",
    "payment.failed",
    "refund.succeeded",
    "tracking.updated",
    "message.delivered",
    "message.failed",
    "unknown.type",
]

envelopes = st.fixed_dictionaries(
    {
        "type": st.sampled_from(TYPES),
        "timestamp": st.just("2026-01-15T12:00:00+00:00"),
        "data": st.fixed_dictionaries(
            {
                "id": st.just("obj_1"),
                "reference": st.sampled_from(["payment:1", "refund:1", "shipment:1"]),
                "amount": st.integers(0, 10**6),
                "currency": st.just("BRL"),
                "customer_pk": st.just(1),
                "order_pk": st.just(1),
                "tracking_code": st.just("TRK1"),
                "status": st.sampled_from(["delivered", "in_transit"]),
            }
        ),
    }
)


def _sign(body: bytes, msg_id: str) -> dict[str, str]:
    secret = django_settings.SANDBOX_WEBHOOK_SECRET
    key = base64.b64decode(secret.removeprefix("whsec_"))
    timestamp = str(int(time.time()))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(endpoint=st.sampled_from(ENDPOINTS), body=hostile_body(envelopes))
def test_a_signed_hostile_body_never_gets_a_5xx(
    handlers: Any, deliver: Any, admin_client: Any, endpoint: str, body: bytes
) -> None:
    stored_before = WebhookEvent.objects.count()

    response = deliver(body, _sign(body, f"msg_{uuid.uuid4().hex}"), path=f"/webhooks/{endpoint}/")

    assert response.status_code in (200, 400, 401), (response.status_code, body[:300])
    if response.status_code != 200:
        assert WebhookEvent.objects.count() == stored_before
        return
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert event.status != WebhookEvent.Status.RECEIVED  # processed on commit, without raising
    page = admin_client.get(reverse("admin:integrations_webhookevent_change", args=[event.pk]))
    assert page.status_code == 200


latin1 = st.text(
    alphabet=st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=80
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    header=st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]),
    value=latin1,
    keep_valid_signature=st.booleans(),
)
def test_any_signature_header_value_is_answered_never_5xx(
    handlers: Any, client: Any, endpoint: str, header: str, value: str, keep_valid_signature: bool
) -> None:
    body = b'{"type": "unknown.type", "data": {"id": "obj_1"}}'
    headers = _sign(body, "msg_header_prop")
    if header == "webhook-signature" and keep_valid_signature:
        value = f"{value} {headers[header]}"  # junk first, the valid entry after it
    headers[header] = value
    stored_before = WebhookEvent.objects.count()

    response = client.post(
        f"/webhooks/{endpoint}/", data=body, content_type="application/json", headers=headers
    )

    assert response.status_code in (200, 400, 401), (header, value)
    if header == "webhook-signature" and keep_valid_signature:
        assert response.status_code == 200, value
    if response.status_code != 200:
        assert WebhookEvent.objects.count() == stored_before
