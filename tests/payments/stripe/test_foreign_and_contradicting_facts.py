"""A Stripe event touches only Stripe's payments (one naming another provider's payment is refused
and logged, nothing applied or flagged), and a Stripe fact contradicting a final status goes on the
reconciliation list with finance told, instead of being dropped."""

from __future__ import annotations

import itertools
import json
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
    Refund,
    RefundStatus,
)
from payments.services import (
    payment_create,
    payment_mark_failed,
    payment_mark_succeeded,
    refund_approve,
    refund_mark_failed,
    refund_reject,
    refund_request,
)
from tests.factories import events_for, make_order, make_staff
from tests.payments.stripe.conftest import load_event

pytestmark = pytest.mark.django_db
T0 = 1_800_000_000
_ids = itertools.count(1)
CONTRADICTS = ReconciliationException.Kind.CONTRADICTS_FINAL


def _payment(provider: str = "stripe", **kw: Any) -> Payment:
    payment = payment_create(
        order=make_order(amount=10_000, **kw), provider=provider, method=PaymentMethod.CARD
    )
    prefix = {"stripe": "pi", "sandbox": "sbx_pay", "asaas": "pay"}[provider]
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"{prefix}_{payment.pk}")
    payment.refresh_from_db()
    return payment


def _pi(payment: Payment, name: str, **obj: Any) -> dict[str, Any]:
    obj.setdefault("id", f"pi_{payment.pk}")
    obj.setdefault("amount", payment.amount)
    obj.setdefault("currency", payment.currency.lower())
    obj.setdefault("metadata", {"reference": f"payment:{payment.pk}"})
    return load_event(name, event_id=f"evt_f{next(_ids)}", created=T0, **obj)


def _refund(payment: Payment, amount: int = 1_000) -> Refund:
    n = next(_ids)
    return refund_request(
        payment=payment, requested_by=make_staff(f"support-f{n}"), reason="other", amount=amount
    )


def _re(refund: Refund, name: str, **obj: Any) -> dict[str, Any]:
    obj.setdefault("id", f"re_{refund.pk}")
    obj.setdefault("amount", refund.amount)
    obj.setdefault("currency", refund.currency.lower())
    obj.setdefault("payment_intent", f"pi_{refund.payment_id}")
    obj.setdefault("metadata", {"reference": f"refund:{refund.pk}"})
    return load_event(name, event_id=f"evt_f{next(_ids)}", created=T0, **obj)


def _processed(response: Any) -> WebhookEvent:
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    return event


def _refusals(json_log) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == "webhook.foreign_object_refused"]


def _finance_mail() -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.subject.startswith("Reconciliation:")]


# --- another provider's payment ----------------------------------------------------------------


@pytest.mark.parametrize("provider", ["sandbox", "asaas"])
def test_a_stripe_event_naming_another_providers_payment_is_refused(post_event, json_log, provider):
    payment = _payment(provider)
    timeline = list(events_for(payment))

    event = _processed(post_event(_pi(payment, "payment_intent.succeeded")))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_payment_id != f"pi_{payment.pk}"  # not re-linked either
    assert payment.order.status == "placed"
    assert not ReconciliationException.objects.exists()  # nothing flagged on its payment
    assert list(events_for(payment)) == timeline
    assert event.affected == []
    (refusal,) = _refusals(json_log)
    assert refusal["provider"] == "stripe" and refusal["payment_provider"] == provider
    assert refusal["payment_id"] == payment.pk and refusal["webhook_event"] == event.pk


def test_a_stripe_refund_event_naming_another_providers_refund_is_refused(post_event, json_log):
    payment = payment_mark_succeeded(payment=_payment("sandbox"))
    refund = refund_approve(refund=_refund(payment), approver=make_staff("fin-x"))

    _processed(post_event(_re(refund, "refund.updated")))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert payment.amount_refunded == 0
    assert len(_refusals(json_log)) == 1
    assert not ReconciliationException.objects.exists()


def test_a_stripe_dispute_naming_another_providers_payment_opens_nothing(post_event, json_log):
    payment = payment_mark_succeeded(payment=_payment("sandbox"))
    dispute = load_event(
        "charge.dispute.created",
        event_id="evt_dp_foreign",
        created=T0,
        id="dp_foreign",
        amount=payment.amount,
        currency="brl",
        payment_intent="pi_unknown_to_us",
        metadata={"reference": f"payment:{payment.pk}"},
    )

    _processed(post_event(dispute))

    payment.order.refresh_from_db()
    assert not Dispute.objects.exists()
    assert not payment.order.is_flagged
    assert len(_refusals(json_log)) == 1


# --- facts contradicting a final status --------------------------------------------------------


def test_a_success_for_a_failed_payment_is_flagged_and_finance_told(post_event, finance_user):
    payment = payment_mark_failed(payment=_payment(), reason="card_declined")

    first = _processed(post_event(_pi(payment, "payment_intent.succeeded")))
    _processed(post_event(_pi(payment, "payment_intent.succeeded")))  # told again
    deliver_due()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED  # a final status is not moved
    flagged = ReconciliationException.objects.get()
    assert (flagged.kind, flagged.payment, flagged.provider) == (CONTRADICTS, payment, "stripe")
    assert flagged.webhook_event_id == first.pk
    assert "stripe says" in flagged.detail and "is succeeded" in flagged.detail
    assert "failed here" in flagged.detail
    (message,) = _finance_mail()
    assert message.subject == (
        f"Reconciliation: Contradicts a final status on {payment.order.number}"
    )
    assert message.to == [finance_user.email]


def test_a_succeeded_refund_for_a_failed_one_is_flagged(post_event, finance_user):
    payment = payment_mark_succeeded(payment=_payment())
    refund = refund_approve(refund=_refund(payment), approver=make_staff("fin-r"))
    refund_mark_failed(refund=refund, reason="expired_or_canceled_card")

    _processed(post_event(_re(refund, "refund.updated", status="succeeded")))
    deliver_due()

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert payment.amount_refunded == 0
    flagged = ReconciliationException.objects.get()
    assert (flagged.kind, flagged.payment) == (CONTRADICTS, payment)
    assert f"Refund #{refund.pk} is succeeded" in flagged.detail
    assert len(_finance_mail()) == 1


def test_a_rejected_refund_the_provider_moves_is_flagged(post_event, finance_user):
    payment = payment_mark_succeeded(payment=_payment())
    refund = refund_reject(refund=_refund(payment), approver=finance_user, reason="no")

    _processed(post_event(_re(refund, "refund.created", status="pending")))

    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert ReconciliationException.objects.get().kind == CONTRADICTS


def test_a_merely_older_fact_is_superseded_not_flagged(post_event):
    payment = payment_mark_succeeded(payment=_payment())

    _processed(post_event(_pi(payment, "payment_intent.processing")))
    _processed(post_event(_pi(payment, "payment_intent.payment_failed")))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert not ReconciliationException.objects.exists()
    assert _finance_mail() == []
