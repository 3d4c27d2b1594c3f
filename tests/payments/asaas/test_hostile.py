"""Hostile Asaas deliveries through /webhooks/asaas/ (with the right token): nothing a sender
controls yields a 500. Out-of-range dates, numbers past 64 bits and deep nesting are a 400 with
nothing stored; an absurd amount written as a string is an amount mismatch, flagged, not applied.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent, WebhookRejection
from payments.models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    RefundStatus,
)
from payments.services import payment_create, refund_approve, refund_request
from tests.factories import make_order, make_staff
from tests.integrations.webhooks.hostile import hostile_body
from tests.payments.asaas.conftest import WEBHOOK_TOKEN, webhook_body

pytestmark = pytest.mark.django_db


def _payment(amount: int = 10_000) -> Payment:
    order = make_order(amount=amount, payment_method=PaymentMethod.PIX)
    return payment_create(order=order, provider="asaas", method=PaymentMethod.PIX)


def _body(payment: Payment, fixture: str = "payment_received", **fields: Any) -> dict[str, Any]:
    fields.setdefault("id", f"pay_{payment.pk:012d}")
    fields.setdefault("externalReference", f"payment:{payment.pk}")
    fields.setdefault("value", payment.amount / 100)
    return webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}", **fields)


@pytest.mark.parametrize(
    ("date_created", "payment_fields", "raw"),
    [
        ("9999-12-31 23:59:59", {}, None),  # Brasília time: past year 9999 in UTC
        ("0001-01-01T00:00:00+05:00", {}, None),  # before year 1 in UTC
        ("1969-12-31 12:00:00", {}, None),
        ("2024-06-12 16:45:03", {"value": 10**30}, None),
        ("2024-06-12 16:45:03", {"value": -(2**63) - 1}, None),
        ("2024-06-12 16:45:03", {}, ("100.0", "1e999999999")),
        ("2024-06-12 16:45:03", {}, ('"netValue": 99.01', '"netValue": NaN')),
        ("2024-06-12 16:45:03", {"description": "PLACEHOLDER"}, None),
    ],
    ids=[
        "date-past-9999",
        "date-before-year-1",
        "date-before-1970",
        "value-1e30",
        "value-below-int64",
        "value-1e999999999",
        "NaN",
        "nested-10000-deep",
    ],
)
def test_a_malformed_delivery_is_400_and_nothing_is_stored(
    post_webhook, date_created, payment_fields, raw
) -> None:
    payment = _payment()
    body = _body(payment, **payment_fields)
    body["dateCreated"] = date_created
    text = json.dumps(body).replace('"PLACEHOLDER"', "[" * 10_000 + "]" * 10_000)
    if raw:
        assert raw[0] in text
        text = text.replace(raw[0], raw[1], 1)

    response = post_webhook(text)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "malformed"
    assert not WebhookEvent.objects.exists()
    assert not WebhookRejection.objects.exists()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_a_brasilia_time_late_in_9999_that_stays_in_range_is_refused_too(post_webhook) -> None:
    # Within Python's range but far past any real event: refused rather than stored as a
    # watermark no later fact could pass.
    payment = _payment()
    body = _body(payment)
    body["dateCreated"] = "9998-06-01 00:00:00"
    assert post_webhook(body).status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "value",
    ["1e999999999", "1e500000", "NaN", "Infinity", "9" * 5000],
    ids=["1e999999999", "1e500000", "NaN", "Infinity", "5000-digits"],
)
def test_an_absurd_amount_written_as_a_string_is_a_mismatch_not_applied(
    post_webhook, value
) -> None:
    payment = _payment()

    response = post_webhook(_body(payment, value=value))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert flagged.payment == payment


def test_an_absurd_refund_value_is_a_mismatch_and_no_refund_moves(post_webhook) -> None:
    payment = _payment()
    assert post_webhook(_body(payment)).status_code == 200
    refund = refund_request(
        payment=payment, requested_by=make_staff("s1"), reason="other", amount=4_000
    )
    refund = refund_approve(refund=refund, approver=make_staff("f1"))
    item = {
        "dateCreated": "2024-06-13 09:59:00",
        "status": "DONE",
        "value": "1e999999999",
        "description": f"refund:{refund.pk}",
    }

    response = post_webhook(_body(payment, "payment_partially_refunded", refunds=[item]))

    assert response.status_code == 200
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 2


@pytest.mark.parametrize("pk", ["²", "9" * 5000])
def test_an_external_reference_that_is_not_ascii_digits_waits_as_not_ready(
    post_webhook, pk
) -> None:
    payment = _payment()

    response = post_webhook(_body(payment, externalReference=f"payment:{pk}"))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert event.last_error.startswith("ObjectNotReady: ")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


# --- property: hostile bodies with the right token -------------------------------------------

asaas_events = st.builds(
    lambda name, reference: webhook_body(
        name, event_id=f"evt_{uuid.uuid4().hex}", externalReference=reference
    ),
    st.sampled_from(
        [
            "payment_received",
            "payment_deleted",
            "payment_partially_refunded",
            "payment_chargeback_requested",
        ]
    ),
    st.sampled_from(["payment:1", "payment:2", ""]),
)


@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=hostile_body(asaas_events))
def test_a_hostile_asaas_body_with_the_token_never_gets_a_5xx(
    client, django_capture_on_commit_callbacks, asaas_webhooks, body
) -> None:
    stored_before = WebhookEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/asaas/",
            data=body,
            content_type="application/json",
            headers={"asaas-access-token": WEBHOOK_TOKEN},
        )

    assert response.status_code in (200, 400), (response.status_code, body[:300])
    if response.status_code == 400:
        assert WebhookEvent.objects.count() == stored_before
    else:
        event = WebhookEvent.objects.get(pk=response.json()["id"])
        assert event.status != WebhookEvent.Status.RECEIVED
