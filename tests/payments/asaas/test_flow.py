"""The real path end to end with Asaas as the provider: order placed -> Asaas charge (through the
subscriber and the registry) -> PAYMENT_RECEIVED -> refund approved -> Asaas refund ->
PAYMENT_REFUNDED, with the fake Asaas API on loopback."""

from __future__ import annotations

import uuid

import pytest

from integrations.models import DomainEvent
from orders.models import OrderStatus
from payments.models import Payment, PaymentStatus, Refund, RefundStatus
from payments.services import refund_approve, refund_request
from payments.subscribers import execute_approved_refund, start_payment_for_order
from tests.factories import make_order, make_staff
from tests.payments.asaas.conftest import FakeAsaas, make_asaas_customer, webhook_body

pytestmark = pytest.mark.django_db


def _event(type_: str, subject_id: int) -> DomainEvent:
    return DomainEvent.objects.get(type=type_, subject_id=str(subject_id))


def test_order_to_refund_through_asaas(settings, fake_asaas: FakeAsaas, post_webhook):
    settings.PAYMENT_PROVIDER = "asaas"
    order = make_order(customer=make_asaas_customer(), amount=15_090, payment_method="pix")
    start_payment_for_order(_event("order.placed", order.pk))
    start_payment_for_order(_event("order.placed", order.pk))  # redelivered: nothing new
    payment = Payment.objects.get(order=order)
    assert payment.provider == "asaas"
    assert payment.provider_payment_id in fake_asaas.payments
    assert len(fake_asaas.requests_to("POST", "/payments")) == 1
    pid = payment.provider_payment_id
    # What the customer needs to pay is kept on the payment: the Pix QR code and its expiry.
    assert payment.checkout["billing_type"] == "PIX"
    assert payment.checkout["pix_payload"]
    assert payment.checkout["pix_encoded_image"]
    assert payment.checkout["pix_expires_at"]

    fake_asaas.set_status(pid, "RECEIVED")
    received = webhook_body(
        "payment_received",
        event_id=f"evt_{uuid.uuid4().hex}",
        id=pid,
        externalReference=f"payment:{payment.pk}",
        value=150.9,
    )
    assert post_webhook(received).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED

    support = make_staff("asaas-support")
    finance = make_staff("asaas-finance")
    refund = refund_approve(
        refund=refund_request(payment=payment, requested_by=support, reason="other"),
        approver=finance,
    )
    execute_approved_refund(_event("refund.approved", refund.pk))
    execute_approved_refund(_event("refund.approved", refund.pk))  # redelivered
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PROCESSING
    assert refund.provider_refund_id == f"{pid}:refund:{refund.pk}"
    (at_asaas,) = fake_asaas.refunds_of(pid)
    assert str(at_asaas["value"]) == "150.90"

    refunded = webhook_body(
        "payment_refunded",
        event_id=f"evt_{uuid.uuid4().hex}",
        id=pid,
        externalReference=f"payment:{payment.pk}",
        value=150.9,
        refunds=[{**at_asaas, "value": 150.9, "status": "DONE"}],
    )
    assert post_webhook(refunded).status_code == 200
    refund = Refund.objects.get(pk=refund.pk)
    payment.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert payment.amount_refunded == 15_090
    assert order.status == OrderStatus.REFUNDED
