"""What Asaas will never accept fails at once, with its reason: the delivery is dead after one
attempt and the refund or payment says why; what may work later (a 5xx) is retried."""

from __future__ import annotations

import pytest

from integrations.deliveries.relay import deliver_due
from integrations.models import Delivery, ProviderCall
from payments.models import Payment, PaymentStatus, RefundStatus
from payments.services import refund_approve, refund_request
from tests.factories import make_order, make_staff
from tests.payments.asaas.conftest import FakeAsaas, make_asaas_customer
from tests.support.backstop import start_payment

pytestmark = pytest.mark.django_db

EXECUTE = "payments.execute_refund"
START = "payments.start_payment"


@pytest.fixture
def asaas_payment(settings, fake_asaas: FakeAsaas) -> Payment:
    settings.PAYMENT_PROVIDER = "asaas"
    payment = start_payment(
        make_order(customer=make_asaas_customer(), amount=5_000, payment_method="pix")
    )
    # The paid state as we see it; Asaas still has the charge PENDING (refund impossible there).
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.SUCCEEDED)
    payment.refresh_from_db()
    Delivery.objects.filter(subscriber=START).delete()  # already run above, by hand
    return payment


def _approved(payment: Payment):
    refund = refund_request(
        payment=payment, requested_by=make_staff("support-rj"), reason="other", amount=5_000
    )
    return refund_approve(refund=refund, approver=make_staff("finance-rj"))


def test_a_refund_asaas_refuses_fails_at_once_with_its_reason(fake_asaas: FakeAsaas, asaas_payment):
    refund = _approved(asaas_payment)

    deliver_due()
    deliver_due()

    delivery = Delivery.objects.get(subscriber=EXECUTE)
    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 1
    assert "ProviderRejected" in delivery.last_error and "HTTP 400" in delivery.last_error
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert "HTTP 400" in refund.failure_reason
    path = f"/payments/{asaas_payment.provider_payment_id}/refund"
    assert len(fake_asaas.requests_to("POST", path)) == 1  # sent once, never again
    assert fake_asaas.refunds_of(asaas_payment.provider_payment_id) == []


def test_a_refund_while_asaas_fails_is_retried_and_stays_approved(
    fake_asaas: FakeAsaas, asaas_payment
):
    path = f"/payments/{asaas_payment.provider_payment_id}/refund"
    fake_asaas.fail("POST", path, "500", "500", "500")
    refund = _approved(asaas_payment)

    deliver_due()

    delivery = Delivery.objects.get(subscriber=EXECUTE)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is not None
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert refund.failure_reason == ""


def test_a_charge_asaas_cannot_take_fails_the_payment_at_once(settings, fake_asaas: FakeAsaas):
    settings.PAYMENT_PROVIDER = "asaas"
    order = make_order(amount=5_000, currency="USD", payment_method="pix")

    deliver_due()

    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_reason == "asaas: only BRL, not USD."
    delivery = Delivery.objects.get(subscriber=START)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.DEAD, 1)
    assert "only BRL" in delivery.last_error
    assert fake_asaas.requests_to("POST", "/payments") == []
    assert not ProviderCall.objects.filter(provider="asaas").exists()
