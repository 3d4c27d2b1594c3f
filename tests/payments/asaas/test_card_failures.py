"""Asaas card failures end the payment and tell the customer: PAYMENT_CREDIT_CARD_CAPTURE_REFUSED
and PAYMENT_REPROVED_BY_RISK_ANALYSIS fail it with the reason, and the customer gets the
``payment_failed`` message with the charge's invoice page to pay again; a manual risk analysis
holds the payment in processing. (The ``status`` inside the constructed payloads is
illustrative: the handlers read the event type.)"""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.core import mail

from integrations.models import DomainEvent
from notifications.models import Notification, NotificationStatus
from orders.models import OrderStatus
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.services import payment_attach_provider_id, payment_create
from tests.factories import make_customer, make_order
from tests.payments.asaas.conftest import webhook_body

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)
INVOICE = "https://sandbox.asaas.com/i/000000000777"


def _payment() -> Payment:
    customer = make_customer(email="bia@example.test", phone="+5511912345678")
    order = make_order(customer=customer, amount=10_000, payment_method=PaymentMethod.CARD)
    payment = payment_create(order=order, provider="asaas", method=PaymentMethod.CARD)
    return payment_attach_provider_id(
        payment=payment,
        provider_payment_id=f"pay_{payment.pk:012d}",
        checkout={"billing_type": "CREDIT_CARD", "invoice_url": INVOICE},
    )


def _body(fixture: str, payment: Payment, **fields) -> dict:
    fields.setdefault("id", payment.provider_payment_id)
    fields.setdefault("externalReference", f"payment:{payment.pk}")
    fields.setdefault("value", payment.amount / 100)
    return webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}&{next(_ids)}", **fields)


@pytest.mark.parametrize(
    ("fixture", "reason", "told"),
    [
        (
            "payment_credit_card_capture_refused",
            "capture was refused",
            "Your card was declined.",
        ),
        (
            "payment_reproved_by_risk_analysis",
            "risk analysis",
            "The card payment was not approved.",
        ),
    ],
)
def test_a_card_failure_fails_the_payment_and_tells_the_customer_with_the_retry_link(
    post_webhook, fixture, reason, told
):
    payment = _payment()

    assert post_webhook(_body(fixture, payment)).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert reason in payment.failure_reason
    assert payment.order.status == OrderStatus.PLACED
    failed = DomainEvent.objects.get(type="payment.failed")
    assert failed.data["customer_reason"] == told
    assert failed.data["retry_url"] == INVOICE
    # WhatsApp first (the rule's channels), in the customer's language (pt-BR by default).
    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.template == "payment_failed"
    assert payment.order.number in whatsapp.subject
    assert told in whatsapp.body
    assert INVOICE in whatsapp.body
    assert "risk analysis" not in whatsapp.body and "capture" not in whatsapp.body  # staff's
    assert whatsapp.status == NotificationStatus.SENT
    assert mail.outbox == []


def test_a_redelivered_refusal_tells_the_customer_once(post_webhook):
    payment = _payment()
    body = _body("payment_credit_card_capture_refused", payment)

    post_webhook(body)
    post_webhook(body)

    assert DomainEvent.objects.filter(type="payment.failed").count() == 1
    assert Notification.objects.filter(template="payment_failed").count() == 1  # WhatsApp


def test_a_refusal_older_than_the_success_changes_nothing_and_tells_nobody(post_webhook):
    payment = _payment()
    # Confirmed at 16:44; a capture refusal stamped 16:40 arrives late.
    assert post_webhook(_body("payment_confirmed", payment)).status_code == 200
    late = _body("payment_credit_card_capture_refused", payment)
    late["dateCreated"] = "2024-06-12 16:40:00"
    mail.outbox.clear()

    assert post_webhook(late).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.failure_reason == ""
    assert not DomainEvent.objects.filter(type="payment.failed").exists()
    assert not Notification.objects.filter(template="payment_failed").exists()
    assert not [m for m in mail.outbox if "did not go through" in m.subject]


def test_a_risk_analysis_holds_the_payment_then_approval_and_confirmation_pay_it(post_webhook):
    payment = _payment()
    awaiting = _body("payment_awaiting_risk_analysis", payment)
    awaiting["dateCreated"] = "2024-06-12 16:40:00"

    post_webhook(awaiting)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING

    approved = _body("payment_awaiting_risk_analysis", payment)
    approved["event"] = "PAYMENT_APPROVED_BY_RISK_ANALYSIS"
    approved["dateCreated"] = "2024-06-12 16:42:00"
    post_webhook(approved)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PROCESSING

    post_webhook(_body("payment_confirmed", payment))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    assert not DomainEvent.objects.filter(type="payment.failed").exists()
