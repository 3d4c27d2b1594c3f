"""Cancelling an order cancels its open payment at the provider (through the ``order.cancelled``
subscriber and the provider adapter), and a payment that still succeeds on a cancelled order goes
on the reconciliation list as paid after cancel, refund due, and finance is told."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings as django_settings
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.exceptions import InvalidTransition
from integrations.models import Delivery, DomainEvent, SandboxWebhook, WebhookEvent
from integrations.webhooks.standard import standard_webhooks_headers
from orders.models import OrderStatus
from orders.services import order_cancel
from payments.models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    RefundStatus,
)
from payments.providers.sandbox.adapter import SandboxPaymentProvider
from payments.services import (
    payment_create,
    payment_mark_succeeded,
    refund_approve,
    refund_mark_succeeded,
    refund_request,
)
from payments.subscribers import cancel_payments_of_cancelled_order, start_payment_for_order
from tests.factories import make_order, make_staff
from tests.support.backstop import age, start_payment, types_of

pytestmark = pytest.mark.django_db

CANCEL = "payments.cancel_payments_of_cancelled_order"
PAID_AFTER_CANCEL = ReconciliationException.Kind.PAID_AFTER_CANCEL


@pytest.fixture
def sandbox_cancels(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The provider ids the sandbox was asked to cancel (the real method still runs)."""
    asked: list[str] = []
    original = SandboxPaymentProvider.cancel

    def cancel(self, *, provider_payment_id: str, reference: str):
        asked.append(provider_payment_id)
        return original(self, provider_payment_id=provider_payment_id, reference=reference)

    monkeypatch.setattr(SandboxPaymentProvider, "cancel", cancel)
    return asked


def _cancelled_event(order) -> DomainEvent:
    return DomainEvent.objects.get(type="order.cancelled", subject_id=str(order.pk))


def _finance_mail() -> list[mail.EmailMessage]:
    return [m for m in mail.outbox if m.subject.startswith("Reconciliation:")]


def _post_sandbox(client, capture, type_: str, data: dict) -> WebhookEvent:
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps({"type": type_, "timestamp": datetime.now(tz=UTC).isoformat(), "data": data})
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
    return WebhookEvent.objects.get(event_id=msg_id)


def _fact(payment: Payment) -> dict:
    return {
        "id": payment.provider_payment_id,
        "reference": f"payment:{payment.pk}",
        "amount": payment.amount,
        "currency": payment.currency,
    }


def test_cancelling_an_order_cancels_its_payment_at_the_sandbox(settings, sandbox_cancels):
    settings.SANDBOX_SEND_WEBHOOKS = True  # to see the webhooks the sandbox owes
    order = make_order(amount=7_000)
    payment = start_payment(order)
    owed = SandboxWebhook.objects.filter(body__contains=f'"reference":"payment:{payment.pk}"')
    assert owed.filter(body__contains='"type":"payment.succeeded"').exists()

    order_cancel(order=order, reason="customer changed their mind")
    deliver_due()

    payment.refresh_from_db()
    assert sandbox_cancels == [payment.provider_payment_id]
    assert payment.status == PaymentStatus.CANCELLED
    assert Delivery.objects.get(subscriber=CANCEL).status == Delivery.Status.SUCCEEDED
    assert types_of(payment)[-1] == "payment.cancelled"
    # The sandbox withdrew the outcome it owed and owes the cancellation instead.
    assert not owed.filter(body__contains='"type":"payment.succeeded"').exists()
    assert owed.filter(body__contains='"type":"payment.cancelled"').count() == 1
    # Its own record says cancelled from now on, even once the outcome would have come.
    age(payment, minutes=5)
    assert SandboxPaymentProvider().retrieve(
        provider_payment_id=payment.provider_payment_id
    ).status == (PaymentStatus.CANCELLED)
    assert not ReconciliationException.objects.exists()


def test_a_redelivered_cancellation_asks_the_provider_once(sandbox_cancels):
    order = make_order()
    payment = start_payment(order)
    order_cancel(order=order, reason="duplicate order")

    cancel_payments_of_cancelled_order(_cancelled_event(order))
    cancel_payments_of_cancelled_order(_cancelled_event(order))

    assert sandbox_cancels == [payment.provider_payment_id]
    assert types_of(payment).count("payment.cancelled") == 1


def test_an_order_cancelled_before_its_charge_exists_never_reaches_the_provider(
    sandbox_cancels, monkeypatch
):
    created: list[str] = []
    monkeypatch.setattr(
        SandboxPaymentProvider,
        "create_payment",
        lambda self, *, request: created.append(request.reference),
    )
    order = make_order()
    order_cancel(order=order, reason="placed by mistake")

    deliver_due()  # order.placed and order.cancelled, in that order
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))

    assert created == [] and sandbox_cancels == []
    assert not Payment.objects.filter(order=order).exists()


def test_a_payment_without_its_charge_yet_is_cancelled_here_only(sandbox_cancels, monkeypatch):
    order = make_order()
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.CARD)
    order_cancel(order=order, reason="placed by mistake")
    created: list[str] = []
    monkeypatch.setattr(
        SandboxPaymentProvider,
        "create_payment",
        lambda self, *, request: created.append(request.reference),
    )

    cancel_payments_of_cancelled_order(_cancelled_event(order))
    # The order.placed delivery, retried late, must not create the charge now.
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert sandbox_cancels == [] and created == []


def test_an_order_cancelled_while_its_charge_is_created_has_that_charge_cancelled(
    sandbox_cancels, monkeypatch
):
    order = make_order()
    original = SandboxPaymentProvider.create_payment

    def create_while_cancelled(self, *, request):
        answer = original(self, request=request)
        order_cancel(order=order, reason="cancelled meanwhile")
        cancel_payments_of_cancelled_order(_cancelled_event(order))  # sees no provider id yet
        return answer

    monkeypatch.setattr(SandboxPaymentProvider, "create_payment", create_while_cancelled)

    payment = start_payment(order)

    assert payment.status == PaymentStatus.CANCELLED
    assert payment.provider_payment_id
    assert sandbox_cancels == [payment.provider_payment_id]


def test_a_late_success_on_a_cancelled_payment_is_flagged_and_finance_told(
    client, django_capture_on_commit_callbacks, finance_user
):
    order = make_order(amount=8_000)
    payment = start_payment(order)
    order_cancel(order=order, reason="customer asked")
    cancel_payments_of_cancelled_order(_cancelled_event(order))

    event = _post_sandbox(
        client, django_capture_on_commit_callbacks, "payment.succeeded", _fact(payment)
    )
    _post_sandbox(client, django_capture_on_commit_callbacks, "payment.succeeded", _fact(payment))
    deliver_due()

    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert order.status == OrderStatus.CANCELLED
    assert event.status == WebhookEvent.Status.PROCESSED
    flagged = ReconciliationException.objects.get()  # once, though told twice
    assert (flagged.kind, flagged.payment, flagged.provider) == (
        PAID_AFTER_CANCEL,
        payment,
        "sandbox",
    )
    assert flagged.get_kind_display() == "Paid after cancel, refund due"
    assert order.number in flagged.detail and "refund due" in flagged.detail
    (message,) = _finance_mail()
    assert message.to == [finance_user.email]
    assert "Paid after cancel, refund due" in message.subject and order.number in message.subject
    assert f"/admin/payments/reconciliationexception/{flagged.pk}/" in message.body


def test_a_success_on_a_still_open_payment_of_a_cancelled_order_is_kept_and_flagged(
    finance_user,
):
    order = make_order(amount=9_000)
    payment = payment_create(order=order, provider="sandbox", method=PaymentMethod.PIX)
    order_cancel(order=order, reason="customer asked")

    payment = payment_mark_succeeded(payment=payment)  # the money really arrived
    deliver_due()

    order.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert order.status == OrderStatus.CANCELLED  # never silently paid again
    assert "order.paid" not in types_of(order)
    flagged = ReconciliationException.objects.get()
    assert (flagged.kind, flagged.payment) == (PAID_AFTER_CANCEL, payment)
    assert "R$ 90,00" in flagged.detail
    assert len(_finance_mail()) == 1
    assert "reconciliation.flagged" in types_of(payment)

    # Finance refunds it; the order stays cancelled (not refunded) once the money is back.
    refund = refund_approve(
        refund=refund_request(
            payment=payment, requested_by=make_staff("support-pac"), reason="other"
        ),
        approver=finance_user,
    )
    refund_mark_succeeded(refund=refund)
    refund.refresh_from_db()
    order.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert order.status == OrderStatus.CANCELLED


def test_a_paid_order_is_not_cancelled_and_its_payment_not_touched(sandbox_cancels):
    order = make_order()
    payment = start_payment(order)
    payment_mark_succeeded(payment=payment)

    with pytest.raises(InvalidTransition):
        order_cancel(order=order, reason="too late")
    deliver_due()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert sandbox_cancels == []
    assert not Delivery.objects.filter(subscriber=CANCEL).exists()


def test_the_sandbox_answers_a_payment_past_its_outcome_as_it_is(sandbox_cancels):
    order = make_order(amount=5_000)
    payment = age(start_payment(order), minutes=1)  # the sandbox has taken the money
    order_cancel(order=order, reason="customer asked")

    cancel_payments_of_cancelled_order(_cancelled_event(order))

    payment.refresh_from_db()
    assert sandbox_cancels == [payment.provider_payment_id]
    assert payment.status == PaymentStatus.SUCCEEDED
    assert ReconciliationException.objects.get().kind == PAID_AFTER_CANCEL
