"""Property: any tampering with a signed delivery is refused with 401 and stores nothing.

Tampering means changing the signed content (body, ``webhook-id``, the timestamp's value) or the
MAC itself. Re-encodings that carry the same content and MAC (``0170...`` for ``170...``, another
base64 spelling of the same MAC bytes) are not tampering and are deliberately not generated.
"""

from __future__ import annotations

import base64
import string
from typing import Any

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent, WebhookRejection
from integrations.models.webhooks import WebhookRejectionCounter
from tests.integrations.webhooks.support import URL, signed

pytestmark = pytest.mark.django_db

ID_ALPHABET = string.ascii_letters + string.digits + "_-."


def _flip_mac_bit(signature: str, bit: int) -> str:
    version, encoded = signature.split(",", 1)
    mac = bytearray(base64.b64decode(encoded))
    mac[bit // 8 % len(mac)] ^= 1 << (bit % 8)
    return f"{version},{base64.b64encode(bytes(mac)).decode()}"


@st.composite
def tampering(draw: Any) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["body-byte", "body-append", "body-cut", "id", "time", "mac"]))
    if kind == "body-byte":
        return kind, (draw(st.integers(min_value=0)), draw(st.integers(1, 255)))
    if kind == "body-append":
        return kind, draw(st.binary(min_size=1, max_size=20))
    if kind == "body-cut":
        return kind, draw(st.integers(min_value=1, max_value=50))
    if kind == "id":
        return kind, draw(st.text(ID_ALPHABET, min_size=1, max_size=60))
    if kind == "time":
        return kind, draw(st.integers(-250, 250).filter(bool))
    return kind, draw(st.integers(min_value=0, max_value=255))


def _tamper(body: bytes, headers: dict[str, str], kind: str, arg: Any) -> tuple[bytes, dict]:
    headers = dict(headers)
    if kind == "body-byte":
        index, xor = arg
        index %= len(body)
        body = body[:index] + bytes([body[index] ^ xor]) + body[index + 1 :]
    elif kind == "body-append":
        body += arg
    elif kind == "body-cut":
        body = body[: -min(arg, len(body) - 1)]
    elif kind == "id":
        headers["webhook-id"] = arg if arg != headers["webhook-id"] else arg + "x"
    elif kind == "time":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + arg)
    else:
        headers["webhook-signature"] = _flip_mac_bit(headers["webhook-signature"], arg)
    return body, headers


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(change=tampering())
def test_any_tampering_with_a_signed_delivery_is_401_and_stores_nothing(
    handlers, client, settings, change
):
    # Every refusal is counted (written at once here); only a bounded sample is kept as rows.
    settings.WEBHOOK_REJECTION_FLUSH_SECONDS = 0
    body, headers = signed("customer.linked", {"id": "cus_prop", "customer_pk": 1})
    body, headers = _tamper(body, headers, *change)
    counted_before = _counted()

    response = client.post(URL, data=body, content_type="application/json", headers=headers)

    assert response.status_code == 401, change
    assert not WebhookEvent.objects.exists()
    assert _counted() == counted_before + 1
    assert WebhookRejection.objects.count() <= settings.WEBHOOK_REJECTION_SAMPLES_PER_SOURCE
    assert handlers.calls == []


def _counted() -> int:
    return WebhookRejectionCounter.objects.aggregate(n=Sum("rejected"))["n"] or 0


def test_the_untampered_delivery_is_accepted(handlers, client):
    # The control for the property above: the same request, unchanged, is stored.
    body, headers = signed("customer.linked", {"id": "cus_prop", "customer_pk": 1})
    response = client.post(URL, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1
