"""An Asaas event touches only Asaas payments: one whose externalReference names another
provider's payment is refused and logged (nothing applied, nothing flagged, not even an amount
mismatch on that payment). A refund Asaas says is done for a refund finance rejected goes on the
reconciliation list."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.models import WebhookEvent
from payments.models import (
    Dispute,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    RefundStatus,
)
from payments.services import (
    payment_create,
    payment_mark_succeeded,
    refund_reject,
    refund_request,
)
from tests.factories import events_for, make_order, make_staff
from tests.payments.asaas.conftest import webhook_body

pytestmark = pytest.mark.django_db


def _payment(provider: str) -> Payment:
    payment = payment_create(
        order=make_order(amount=10_000), provider=provider, method=PaymentMethod.PIX
    )
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"pay_{payment.pk:012d}")
    payment.refresh_from_db()
    return payment


def _body(fixture: str, payment: Payment, **fields: Any) -> dict[str, Any]:
    fields.setdefault("id", payment.provider_payment_id)
    fields.setdefault("externalReference", f"payment:{payment.pk}")
    fields.setdefault("value", payment.amount / 100)
    return webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}", **fields)


def _processed(response: Any) -> WebhookEvent:
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(provider="asaas")
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    return event


def _refusals(json_log) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == "webhook.foreign_object_refused"]


@pytest.mark.parametrize(
    "fixture", ["payment_received", "payment_deleted", "payment_chargeback_requested"]
)
def test_an_asaas_event_naming_a_stripe_payment_is_refused(post_webhook, json_log, fixture):
    stripe_payment = _payment("stripe")
    timeline = list(events_for(stripe_payment))

    event = _processed(post_webhook(_body(fixture, stripe_payment)))

    stripe_payment.refresh_from_db()
    assert stripe_payment.status == PaymentStatus.PENDING
    assert list(events_for(stripe_payment)) == timeline
    assert not ReconciliationException.objects.exists()
    assert not Dispute.objects.exists()
    assert event.affected == []
    (refusal,) = _refusals(json_log)
    assert (refusal["provider"], refusal["payment_provider"]) == ("asaas", "stripe")


def test_even_a_wrong_amount_for_a_stripe_payment_flags_nothing(post_webhook, json_log):
    stripe_payment = _payment("stripe")

    _processed(post_webhook(_body("payment_received", stripe_payment, value=1.0)))

    assert not ReconciliationException.objects.exists()
    assert len(_refusals(json_log)) == 1


def test_a_done_refund_for_a_rejected_one_is_flagged_and_finance_told(post_webhook, finance_user):
    payment = payment_mark_succeeded(payment=_payment("asaas"))
    refund = refund_reject(
        refund=refund_request(
            payment=payment, requested_by=make_staff("s-asaas"), reason="other", amount=10_000
        ),
        approver=finance_user,
        reason="not eligible",
    )
    body = _body(
        "payment_refunded",
        payment,
        refunds=[{"value": 100.0, "status": "DONE", "description": f"refund:{refund.pk}"}],
    )

    _processed(post_webhook(body))
    deliver_due()

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert payment.amount_refunded == 0
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.CONTRADICTS_FINAL
    assert f"Refund #{refund.pk} is succeeded, but it is rejected here" in flagged.detail
    assert [m.to for m in mail.outbox if m.subject.startswith("Reconciliation:")] == [
        [finance_user.email]
    ]
