"""Cancelling an order deletes its Asaas charge (``DELETE /v3/payments/{id}``) through the
``order.cancelled`` subscriber, against the fake Asaas API; a charge paid first, or paid after
all, goes on the reconciliation list as paid after cancel."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.exceptions import ProviderRejected
from integrations.models import Delivery, DomainEvent
from orders.models import OrderStatus
from orders.services import order_cancel
from payments.models import Payment, PaymentStatus, ReconciliationException
from payments.providers.asaas.client import AsaasClient
from payments.subscribers import cancel_payments_of_cancelled_order, start_payment_for_order
from tests.factories import make_order
from tests.payments.asaas.conftest import FakeAsaas, make_asaas_customer, webhook_body

pytestmark = pytest.mark.django_db

CANCEL = "payments.cancel_payments_of_cancelled_order"
PAID_AFTER_CANCEL = ReconciliationException.Kind.PAID_AFTER_CANCEL


@pytest.fixture
def asaas_payment(settings, fake_asaas: FakeAsaas, provider, monkeypatch) -> Payment:
    settings.PAYMENT_PROVIDER = "asaas"
    # The registry's adapter, with the test's loopback session and sleep recorder.
    monkeypatch.setattr("payments.workflows.get_payment_provider", lambda name=None: provider)
    order = make_order(customer=make_asaas_customer(), amount=12_000, payment_method="boleto")
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    return Payment.objects.get(order=order)


def _cancel(payment: Payment) -> None:
    order_cancel(order=payment.order, reason="customer asked")
    cancel_payments_of_cancelled_order(
        DomainEvent.objects.get(type="order.cancelled", subject_id=str(payment.order_id))
    )


def _reconciliation_mail() -> list[str]:
    return [str(m.subject) for m in mail.outbox if str(m.subject).startswith("Reconciliation:")]


def test_cancelling_the_order_deletes_the_charge_at_asaas(fake_asaas: FakeAsaas, asaas_payment):
    pid = asaas_payment.provider_payment_id
    order_cancel(order=asaas_payment.order, reason="customer asked")

    deliver_due()

    asaas_payment.refresh_from_db()
    assert fake_asaas.payments[pid]["deleted"] is True
    assert len(fake_asaas.requests_to("DELETE", f"/payments/{pid}")) == 1
    assert asaas_payment.status == PaymentStatus.CANCELLED
    assert Delivery.objects.get(subscriber=CANCEL).status == Delivery.Status.SUCCEEDED
    with pytest.raises(ValueError, match="deleted"):
        fake_asaas.pay(pid)  # the customer can no longer pay it
    assert not ReconciliationException.objects.exists()


def test_a_repeated_cancel_does_not_delete_twice(fake_asaas: FakeAsaas, asaas_payment, provider):
    pid = asaas_payment.provider_payment_id
    reference = f"payment:{asaas_payment.pk}"

    first = provider.cancel(provider_payment_id=pid, reference=reference)
    again = provider.cancel(provider_payment_id=pid, reference=reference)

    assert first.status == again.status == PaymentStatus.CANCELLED
    assert len(fake_asaas.requests_to("DELETE", f"/payments/{pid}")) == 1


def test_a_delete_whose_answer_was_lost_is_not_sent_again(fake_asaas: FakeAsaas, asaas_payment):
    pid = asaas_payment.provider_payment_id
    fake_asaas.fail("DELETE", f"/payments/{pid}", "timeout_after_apply")

    _cancel(asaas_payment)

    asaas_payment.refresh_from_db()
    assert asaas_payment.status == PaymentStatus.CANCELLED
    assert fake_asaas.payments[pid]["deleted"] is True
    # The timed-out DELETE had landed: the check before the retry saw it, no second DELETE.
    assert len(fake_asaas.requests_to("DELETE", f"/payments/{pid}")) == 1


def test_a_charge_paid_before_the_cancel_is_applied_and_flagged(
    fake_asaas: FakeAsaas, asaas_payment, finance_user
):
    pid = asaas_payment.provider_payment_id
    fake_asaas.pay(pid)  # paid; PAYMENT_RECEIVED not delivered yet

    _cancel(asaas_payment)
    deliver_due()

    asaas_payment.refresh_from_db()
    asaas_payment.order.refresh_from_db()
    # The read before the DELETE found it paid: no DELETE (Asaas would refuse it), its current
    # view is applied instead.
    assert fake_asaas.requests_to("DELETE", f"/payments/{pid}") == []
    assert fake_asaas.payments[pid]["deleted"] is False
    assert asaas_payment.status == PaymentStatus.SUCCEEDED
    assert asaas_payment.order.status == OrderStatus.CANCELLED
    flagged = ReconciliationException.objects.get()
    assert (flagged.kind, flagged.payment) == (PAID_AFTER_CANCEL, asaas_payment)
    assert _reconciliation_mail() == [
        f"Reconciliation: Paid after cancel, refund due on {asaas_payment.order.number}"
    ]


def test_a_charge_paid_between_the_read_and_the_delete_is_answered_as_paid(
    fake_asaas: FakeAsaas, asaas_payment, provider, monkeypatch
):
    pid = asaas_payment.provider_payment_id
    real_delete = AsaasClient.delete_payment

    def paid_first(self, payment_id, **kwargs):
        fake_asaas.pay(pid)  # the customer pays in the meantime
        return real_delete(self, payment_id, **kwargs)

    monkeypatch.setattr(AsaasClient, "delete_payment", paid_first)

    answer = provider.cancel(provider_payment_id=pid, reference=f"payment:{asaas_payment.pk}")

    assert answer.status == PaymentStatus.SUCCEEDED
    assert len(fake_asaas.requests_to("DELETE", f"/payments/{pid}")) == 1  # refused: 400
    assert fake_asaas.payments[pid]["deleted"] is False


def test_the_fake_refuses_to_delete_a_received_charge(fake_asaas: FakeAsaas, asaas_payment):
    pid = asaas_payment.provider_payment_id
    fake_asaas.pay(pid, status="CONFIRMED")

    with pytest.raises(ProviderRejected) as caught:
        AsaasClient().delete_payment(pid, idempotency_key="test")
    assert caught.value.status_code == 400
    assert caught.value.response is not None
    errors = json.loads(caught.value.response.content)["errors"]
    assert [error["code"] for error in errors] == ["invalid_action"]
    assert fake_asaas.payments[pid]["deleted"] is False


def test_a_restored_charge_paid_after_the_cancel_is_flagged_once(
    fake_asaas: FakeAsaas, asaas_payment, post_webhook, finance_user
):
    _cancel(asaas_payment)
    pid = asaas_payment.provider_payment_id
    common = {
        "id": pid,
        "externalReference": f"payment:{asaas_payment.pk}",
        "value": 120.0,
        "deleted": False,
    }
    # Restored at Asaas (POST /restore) and paid: PAYMENT_CONFIRMED then PAYMENT_RECEIVED.
    for fixture in ("payment_confirmed", "payment_received"):
        body = webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}", **common)
        assert post_webhook(body).status_code == 200
    deliver_due()

    asaas_payment.refresh_from_db()
    # Asaas shows the charge live (deleted: false) and paid: it was restored, so the money taken
    # is recorded, and the order stays cancelled with the payment flagged, never silently.
    assert asaas_payment.status == PaymentStatus.SUCCEEDED
    assert asaas_payment.order.status == OrderStatus.CANCELLED
    flagged = ReconciliationException.objects.get()  # one exception for one payment
    assert (flagged.kind, flagged.payment) == (PAID_AFTER_CANCEL, asaas_payment)
    assert "refund due" in flagged.detail
    assert len(_reconciliation_mail()) == 1
