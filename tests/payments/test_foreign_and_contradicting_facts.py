"""Sandbox-signed facts touch only sandbox payments: with Stripe enabled too, a sandbox event
naming a Stripe payment or refund is refused and logged, nothing applied or flagged. A sandbox
fact contradicting a final status goes on the reconciliation list and finance is told."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.models import WebhookEvent
from integrations.webhooks.standard import standard_webhooks_headers
from payments.models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.services import (
    payment_cancel,
    payment_create,
    payment_mark_failed,
    payment_mark_succeeded,
    refund_approve,
    refund_mark_succeeded,
    refund_reject,
    refund_request,
)
from tests.factories import events_for, make_order, make_staff

pytestmark = pytest.mark.django_db
CONTRADICTS = ReconciliationException.Kind.CONTRADICTS_FINAL


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    def send(type_: str, data: dict[str, Any]) -> WebhookEvent:
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = json.dumps(
            {"type": type_, "timestamp": datetime.now(tz=UTC).isoformat(), "data": data}
        )
        headers = standard_webhooks_headers(
            secret=django_settings.SANDBOX_WEBHOOK_SECRET,
            msg_id=msg_id,
            body=body,
            at=datetime.now(tz=UTC),
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/webhooks/sandbox-payments/",
                data=body,
                content_type="application/json",
                headers=headers,
            )
        assert response.status_code == 200, response.content
        event = WebhookEvent.objects.get(event_id=msg_id)
        assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
        return event

    return send


def _payment(provider: str) -> Payment:
    payment = payment_create(
        order=make_order(amount=6_000), provider=provider, method=PaymentMethod.CARD
    )
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"{provider}_{payment.pk}")
    payment.refresh_from_db()
    return payment


def _pay(payment: Payment, **extra: Any) -> dict[str, Any]:
    return {
        "id": payment.provider_payment_id,
        "reference": f"payment:{payment.pk}",
        "amount": payment.amount,
        "currency": payment.currency,
        **extra,
    }


def _re(refund: Refund) -> dict[str, Any]:
    return {
        "id": f"sbx_re_{refund.pk}",
        "reference": f"refund:{refund.pk}",
        "amount": refund.amount,
        "currency": refund.currency,
    }


def _refund(payment: Payment) -> Refund:
    n = uuid.uuid4().hex[:6]
    return refund_request(
        payment=payment, requested_by=make_staff(f"s-{n}"), reason="other", amount=1_000
    )


def _refusals(json_log) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == "webhook.foreign_object_refused"]


def _finance_mail() -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.subject.startswith("Reconciliation:")]


@pytest.mark.parametrize("kind", ["payment.succeeded", "payment.failed", "payment.cancelled"])
def test_a_sandbox_fact_cannot_move_a_stripe_payment(settings, post, json_log, kind):
    settings.STRIPE_ENABLED = True  # both providers on, as in the issue
    payment = _payment("stripe")
    timeline = list(events_for(payment))

    event = post(kind, _pay(payment))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert list(events_for(payment)) == timeline
    assert not ReconciliationException.objects.exists()
    assert event.affected == []
    (refusal,) = _refusals(json_log)
    assert (refusal["provider"], refusal["payment_provider"]) == ("sandbox", "stripe")
    assert refusal["endpoint"] == "sandbox-payments" and refusal["payment_id"] == payment.pk


def test_a_sandbox_fact_cannot_move_a_stripe_refund(post, json_log):
    payment = payment_mark_succeeded(payment=_payment("stripe"))
    refund = refund_approve(refund=_refund(payment), approver=make_staff("fin-sr"))

    post("refund.succeeded", _re(refund))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert payment.amount_refunded == 0
    assert len(_refusals(json_log)) == 1


def test_sandbox_facts_still_move_sandbox_payments(post, json_log):
    payment = _payment("sandbox")

    post("payment.succeeded", _pay(payment))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert _refusals(json_log) == []


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_a_success_for_a_failed_or_cancelled_payment_is_flagged(post, finance_user, final):
    payment = _payment("sandbox")
    if final == "failed":
        payment_mark_failed(payment=payment, reason="card_declined")
    else:
        payment_cancel(payment=payment)  # by the provider, the order still placed

    event = post("payment.succeeded", _pay(payment))
    post("payment.succeeded", _pay(payment))  # told again by another webhook
    deliver_due()

    payment.refresh_from_db()
    assert payment.status == final
    flagged = ReconciliationException.objects.get()
    assert (flagged.kind, flagged.payment, flagged.webhook_event_id) == (
        CONTRADICTS,
        payment,
        event.pk,
    )
    assert f"{final} here" in flagged.detail
    assert len(_finance_mail()) == 1
    assert "reconciliation.flagged" in [e.type for e in events_for(payment)]


def test_a_succeeded_refund_for_a_rejected_one_is_flagged(post, finance_user):
    payment = payment_mark_succeeded(payment=_payment("sandbox"))
    refund = refund_reject(refund=_refund(payment), approver=finance_user, reason="no")

    post("refund.succeeded", _re(refund))
    deliver_due()

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert payment.amount_refunded == 0
    flagged = ReconciliationException.objects.get()
    assert (flagged.kind, flagged.payment) == (CONTRADICTS, payment)
    assert "rejected here" in flagged.detail
    assert len(_finance_mail()) == 1


def test_duplicates_and_older_facts_are_still_quietly_superseded(post):
    payment = payment_mark_succeeded(payment=_payment("sandbox"))
    refund = refund_approve(refund=_refund(payment), approver=make_staff("fin-sq"))
    refund_mark_succeeded(refund=refund)

    post("payment.succeeded", _pay(payment))
    post("payment.processing", _pay(payment))
    post("refund.processing", _re(refund))
    post("refund.succeeded", _re(refund))
    deliver_due()

    assert not ReconciliationException.objects.exists()
    assert _finance_mail() == []
