"""Recorded Asaas webhook payloads POSTed to /webhooks/asaas/ with the token header, processed
through the inbox into the payment services."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest

from integrations.models import WebhookEvent, WebhookRejection
from orders.models import OrderStatus
from payments.models import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.providers.asaas.webhooks import endpoint
from payments.services import payment_create, refund_approve, refund_request
from tests.factories import make_order, make_staff
from tests.payments.asaas.conftest import WEBHOOK_TOKEN, webhook_body

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def _payment(method: str = PaymentMethod.PIX, amount: int = 10_000) -> Payment:
    order = make_order(amount=amount, payment_method=method)
    return payment_create(order=order, provider="asaas", method=method)


def _body(fixture: str, payment: Payment, **fields) -> dict:
    fields.setdefault("id", f"pay_{payment.pk:012d}")
    fields.setdefault("externalReference", f"payment:{payment.pk}")
    fields.setdefault("value", payment.amount / 100)
    return webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}&{next(_ids)}", **fields)


def _ok(response) -> None:
    assert response.status_code == 200, response.content


# Authentication ---------------------------------------------------------------------------------


def test_wrong_token_is_401_and_nothing_is_processed(post_webhook):
    payment = _payment()
    body = _body("payment_received", payment)
    response = post_webhook(body, token="not-the-token")
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    rejection = WebhookRejection.objects.get()
    assert "not-the-token" not in json.dumps(rejection.headers)


def test_missing_token_is_401(post_webhook):
    payment = _payment()
    response = post_webhook(_body("payment_received", payment), token=None)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_no_configured_token_rejects_everything(post_webhook, settings):
    settings.ASAAS_WEBHOOK_TOKEN = ""
    response = post_webhook(_body("payment_received", _payment()), token="")
    assert response.status_code == 401


def test_token_is_never_stored(post_webhook):
    payment = _payment()
    _ok(post_webhook(_body("payment_received", payment)))
    event = WebhookEvent.objects.get()
    assert "asaas-access-token" not in event.headers
    assert WEBHOOK_TOKEN not in json.dumps(event.headers)


def test_malformed_body_is_400(post_webhook):
    assert post_webhook("not json").status_code == 400
    assert post_webhook({"event": "PAYMENT_RECEIVED"}).status_code == 400


# Payment facts ----------------------------------------------------------------------------------


def test_pix_received_succeeds_and_records_the_asaas_id(post_webhook):
    payment = _payment()
    response = post_webhook(_body("payment_received", payment))
    _ok(response)
    assert response.json()["status"] == "stored"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_payment_id == f"pay_{payment.pk:012d}"
    assert payment.order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.object_id == payment.provider_payment_id
    assert event.occurred_at is not None
    assert event.occurred_at.isoformat() == "2024-06-12T19:45:03+00:00"  # 16:45:03 in Brasília


def test_boleto_overdue_then_paid_late_succeeds(post_webhook):
    payment = _payment(PaymentMethod.BOLETO)
    _ok(post_webhook(_body("payment_created", payment, billingType="BOLETO")))
    _ok(post_webhook(_body("payment_overdue", payment)))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    # Paid after the due date, with interest: value grew, originalValue is what we charged.
    late = _body(
        "payment_received",
        payment,
        billingType="BOLETO",
        value=102.35,
        originalValue=100.0,
        interestValue=2.35,
        paymentDate="2024-06-15",
    )
    _ok(post_webhook(late))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert not ReconciliationException.objects.exists()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_card_confirmed_succeeds(post_webhook):
    payment = _payment(PaymentMethod.CARD)
    _ok(post_webhook(_body("payment_confirmed", payment, billingType="CREDIT_CARD")))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_deleted_cancels_a_pending_payment_but_not_a_paid_one(post_webhook):
    pending = _payment()
    _ok(post_webhook(_body("payment_deleted", pending)))
    pending.refresh_from_db()
    assert pending.status == PaymentStatus.CANCELLED

    paid = _payment()
    _ok(post_webhook(_body("payment_received", paid)))
    _ok(post_webhook(_body("payment_deleted", paid)))
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.SUCCEEDED


def _final_state(payment: Payment) -> tuple:
    payment.refresh_from_db()
    return (
        payment.status,
        payment.provider_payment_id,
        payment.order.status,
        WebhookEvent.objects.filter(object_id=payment.provider_payment_id)
        .exclude(status="processed")
        .count(),
    )


@pytest.mark.parametrize(
    "sequence",
    [
        ["payment_created", "payment_confirmed", "payment_received"],
        ["payment_received", "payment_created"],  # RECEIVED before CREATED
        ["payment_received", "payment_confirmed", "payment_created", "payment_received"],
    ],
)
def test_duplicates_and_out_of_order_end_in_the_same_state(post_webhook, sequence):
    payment = _payment()
    bodies = {name: _body(name, payment) for name in set(sequence)}
    for name in sequence:
        _ok(post_webhook(bodies[name]))
    for name in sequence:  # every delivery again: duplicates
        response = post_webhook(bodies[name])
        _ok(response)
        assert response.json()["status"] == "duplicate"
    assert WebhookEvent.objects.count() == len(bodies)
    status, provider_id, order_status, unprocessed = _final_state(payment)
    assert status == PaymentStatus.SUCCEEDED
    assert provider_id == f"pay_{payment.pk:012d}"
    assert order_status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    assert unprocessed == 0
    assert Payment.objects.filter(order=payment.order).count() == 1


def test_event_without_id_gets_a_stable_derived_id(post_webhook):
    payment = _payment()
    body = _body("payment_received", payment)
    del body["id"]
    _ok(post_webhook(body))
    response = post_webhook(body)
    assert response.json()["status"] == "duplicate"
    event = WebhookEvent.objects.get()
    assert event.event_id.startswith("derived_")


def test_payment_found_by_asaas_id_without_external_reference(post_webhook):
    payment = _payment()
    payment.provider_payment_id = "pay_known123"
    payment.save()
    _ok(post_webhook(_body("payment_received", payment, id="pay_known123", externalReference=None)))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_a_payment_that_is_not_ours_is_flagged(post_webhook):
    _ok(
        post_webhook(
            webhook_body("payment_received", id="pay_stranger", externalReference="order-77")
        )
    )
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.UNKNOWN_OBJECT
    assert flagged.provider_object_id == "pay_stranger"


# Amount check -----------------------------------------------------------------------------------


def test_amount_mismatch_is_flagged_and_the_payment_unchanged(post_webhook):
    payment = _payment(amount=10_000)
    body = _body("payment_received", payment, value=10.0)
    _ok(post_webhook(body))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_payment_id == ""
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert flagged.payment == payment
    assert "provider says R$ 10,00, we have R$ 100,00" in flagged.detail
    _ok(post_webhook(body))  # redelivered: nothing new
    assert ReconciliationException.objects.count() == 1


def test_a_fraction_of_a_centavo_is_a_mismatch(post_webhook):
    payment = _payment(amount=10_000)
    _ok(post_webhook(_body("payment_received", payment, value=100.001)))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert ReconciliationException.objects.get().kind == "amount_mismatch"


# Refunds ----------------------------------------------------------------------------------------


def _approved_refund(payment: Payment, amount: int | None) -> Refund:
    support = make_staff(f"s-{uuid.uuid4().hex[:8]}")
    finance = make_staff(f"f-{uuid.uuid4().hex[:8]}")
    refund = refund_request(payment=payment, requested_by=support, reason="other", amount=amount)
    return refund_approve(refund=refund, approver=finance)


def _refund_item(refund: Refund, status: str) -> dict:
    return {
        "dateCreated": "2024-06-13 09:59:00",
        "status": status,
        "value": refund.amount / 100,
        "description": f"refund:{refund.pk}",
        "transactionReceiptUrl": None,
    }


def test_partial_refund_in_progress_then_done(post_webhook):
    payment = _payment(amount=10_000)
    _ok(post_webhook(_body("payment_received", payment)))
    payment.refresh_from_db()
    refund = _approved_refund(payment, 4_000)

    _ok(
        post_webhook(
            _body("payment_refund_in_progress", payment, refunds=[_refund_item(refund, "PENDING")])
        )
    )
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert refund.provider_refund_id == f"pay_{payment.pk:012d}:refund:{refund.pk}"

    _ok(
        post_webhook(
            _body("payment_partially_refunded", payment, refunds=[_refund_item(refund, "DONE")])
        )
    )
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 4_000
    assert payment.order.status != OrderStatus.REFUNDED
    assert not ReconciliationException.objects.exists()


def test_full_refund_done_before_in_progress_ends_refunded(post_webhook):
    payment = _payment(amount=10_000)
    _ok(post_webhook(_body("payment_received", payment)))
    payment.refresh_from_db()
    refund = _approved_refund(payment, None)
    done = _body("payment_refunded", payment, refunds=[_refund_item(refund, "DONE")])
    pending = _body(
        "payment_refund_in_progress", payment, refunds=[_refund_item(refund, "PENDING")]
    )
    _ok(post_webhook(done))
    _ok(post_webhook(pending))  # late: superseded, harmless
    _ok(post_webhook(done))
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 10_000
    assert payment.order.status == OrderStatus.REFUNDED


def test_refund_amount_mismatch_is_flagged_and_not_applied(post_webhook):
    payment = _payment(amount=10_000)
    _ok(post_webhook(_body("payment_received", payment)))
    payment.refresh_from_db()
    refund = _approved_refund(payment, 4_000)
    item = {**_refund_item(refund, "DONE"), "value": 50.0}
    _ok(post_webhook(_body("payment_partially_refunded", payment, refunds=[item])))
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert ReconciliationException.objects.get().kind == "amount_mismatch"


def test_a_refund_we_did_not_ask_for_is_flagged(post_webhook):
    payment = _payment(amount=10_000)
    _ok(post_webhook(_body("payment_received", payment)))
    item = {"status": "DONE", "value": 10.0, "description": "estorno pelo painel"}
    _ok(post_webhook(_body("payment_partially_refunded", payment, refunds=[item])))
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.UNKNOWN_OBJECT
    assert "estorno pelo painel" in flagged.detail


# Chargebacks ------------------------------------------------------------------------------------


def test_chargeback_opens_a_dispute_and_flags_the_order(post_webhook):
    payment = _payment(PaymentMethod.CARD)
    _ok(post_webhook(_body("payment_confirmed", payment, billingType="CREDIT_CARD")))
    _ok(post_webhook(_body("payment_chargeback_requested", payment)))
    dispute = Dispute.objects.get()
    assert dispute.payment == payment
    assert dispute.provider == "asaas"
    assert dispute.status == DisputeStatus.NEEDS_RESPONSE
    assert dispute.reason == "FRAUD"
    assert dispute.amount == payment.amount
    payment.order.refresh_from_db()
    assert payment.order.is_flagged

    _ok(post_webhook(_body("payment_chargeback_dispute", payment)))
    _ok(post_webhook(_body("payment_chargeback_requested", payment)))  # older fact, again
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW
    _ok(post_webhook(_body("payment_awaiting_chargeback_reversal", payment)))
    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.WON
    assert Dispute.objects.count() == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_unhandled_event_types_are_stored_as_ignored(post_webhook):
    payment = _payment()
    body = _body("payment_received", payment)
    body["event"] = "PAYMENT_BANK_SLIP_VIEWED"
    _ok(post_webhook(body))
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED
    assert endpoint.handler_for("PAYMENT_BANK_SLIP_VIEWED") is None
