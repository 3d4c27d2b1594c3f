"""Any permutation of a payment's (and its refund's) sandbox events, duplicates included, sent
through the real webhook endpoint, ends in the same state."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings as django_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from integrations.webhooks.standard import standard_webhooks_headers
from orders.models import OrderStatus
from payments.models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    RefundStatus,
)
from payments.services import payment_create, refund_approve, refund_request
from tests.factories import make_order, make_staff

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _event(type_: str, data: dict, seconds: int) -> tuple[str, str]:
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps(
        {"type": type_, "timestamp": (T0 + timedelta(seconds=seconds)).isoformat(), "data": data}
    )
    return msg_id, body


def _post(client, capture, msg_id: str, body: str) -> None:
    headers = standard_webhooks_headers(
        secret=django_settings.SANDBOX_WEBHOOK_SECRET,
        msg_id=msg_id,
        body=body,
        at=datetime.now(tz=UTC),
    )
    with capture(execute=True):
        response = client.post(
            "/webhooks/sandbox-payments/",
            data=body,
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 200, response.content


PAYMENT_FACTS = ["payment.processing", "payment.succeeded"]


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.permutations(range(4)), repeats=st.lists(st.integers(0, 3), max_size=3))
def test_any_order_of_payment_and_refund_events_ends_in_the_same_state(
    client, django_capture_on_commit_callbacks, db, order, repeats
):
    shop_order = make_order(amount=10_000, payment_method=PaymentMethod.BOLETO)
    payment = payment_create(order=shop_order, provider="sandbox", method=PaymentMethod.BOLETO)
    base = {
        "id": f"sbx_pay_{payment.pk}",
        "reference": f"payment:{payment.pk}",
        "amount": 10_000,
        "currency": "BRL",
    }
    events = [
        _event("payment.processing", base, 1),
        _event("payment.succeeded", base, 2),
    ]
    # The refund exists once the payment succeeded; its facts may still arrive before the
    # payment's (a refund of a payment we saw succeed through another channel).
    support = make_staff(f"s-{uuid.uuid4().hex[:8]}")
    finance = make_staff(f"f-{uuid.uuid4().hex[:8]}")
    sent = []
    sequence = [events[i] for i in order if i < 2]
    for msg_id, body in sequence + [events[i] for i in repeats if i < 2]:
        _post(client, django_capture_on_commit_callbacks, msg_id, body)
        sent.append(msg_id)
    payment.refresh_from_db()
    refund = refund_approve(
        refund=refund_request(payment=payment, requested_by=support, reason="other", amount=4_000),
        approver=finance,
    )
    refund_data = {
        "id": f"sbx_re_{refund.pk}",
        "reference": f"refund:{refund.pk}",
        "amount": 4_000,
        "currency": "BRL",
    }
    refund_events = [
        _event("refund.processing", refund_data, 3),
        _event("refund.succeeded", refund_data, 4),
    ]
    for i in [i - 2 for i in order if i >= 2] + [r - 2 for r in repeats if r >= 2]:
        _post(client, django_capture_on_commit_callbacks, *refund_events[i])

    payment.refresh_from_db()
    refund.refresh_from_db()
    shop_order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_payment_id == f"sbx_pay_{payment.pk}"
    assert payment.amount_refunded == 4_000
    assert refund.status == RefundStatus.SUCCEEDED
    # Paid, and the shipping subscriber has already started fulfilment: in every ordering.
    assert shop_order.status == OrderStatus.FULFILLING
    assert not WebhookEvent.objects.exclude(status="processed").exists()
    assert Payment.objects.filter(order=shop_order).count() == 1


def test_an_amount_mismatch_is_flagged_never_applied(
    client, django_capture_on_commit_callbacks, db
):
    shop_order = make_order(amount=10_000)
    payment = payment_create(order=shop_order, provider="sandbox", method=PaymentMethod.CARD)
    msg_id, body = _event(
        "payment.succeeded",
        {
            "id": "sbx_pay_x",
            "reference": f"payment:{payment.pk}",
            "amount": 1_000,
            "currency": "BRL",
        },
        1,
    )
    _post(client, django_capture_on_commit_callbacks, msg_id, body)
    payment.refresh_from_db()
    event = WebhookEvent.objects.get(event_id=msg_id)
    assert payment.status == PaymentStatus.PENDING
    assert event.status == WebhookEvent.Status.PROCESSED
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == "amount_mismatch"
    assert flagged.payment == payment
    assert "provider says R$ 10,00, we have R$ 100,00" in flagged.detail
    _post(client, django_capture_on_commit_callbacks, msg_id, body)  # redelivered: nothing new
    assert ReconciliationException.objects.count() == 1
