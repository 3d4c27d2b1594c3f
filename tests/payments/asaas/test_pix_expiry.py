"""A Pix charge unpaid at its due date (Asaas PAYMENT_OVERDUE) expires: the payment is marked
expired with the reason, the charge is deleted at Asaas so it can no longer be paid, and the
order follows ASAAS_PIX_EXPIRED_ORDER_ACTION: ``cancel`` cancels it and tells the customer,
``new_charge`` issues a new Pix charge and sends the customer its code. Against the fake Asaas."""

from __future__ import annotations

import importlib
import uuid

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from integrations.deliveries.relay import deliver_due
from integrations.models import DomainEvent
from notifications.models import Notification
from orders.models import OrderStatus
from payments.models import Payment, PaymentStatus, ReconciliationException
from payments.services import payment_mark_expired
from payments.subscribers import handle_expired_payment, start_payment_for_order
from tests.factories import make_order
from tests.payments.asaas.conftest import FakeAsaas, make_asaas_customer, webhook_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def pix_payment(settings, fake_asaas: FakeAsaas, provider, monkeypatch) -> Payment:
    settings.PAYMENT_PROVIDER = "asaas"
    monkeypatch.setattr("payments.workflows.get_payment_provider", lambda name=None: provider)
    customer = make_asaas_customer(email="caio@example.test", phone="+5511911112222")
    order = make_order(customer=customer, amount=15_000, payment_method="pix")
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    return Payment.objects.get(order=order)


def _post(post_webhook, payment: Payment, fixture: str, at: str = "", **fields) -> None:
    fields = {
        "id": payment.provider_payment_id,
        "externalReference": f"payment:{payment.pk}",
        "value": payment.amount / 100,
        "billingType": "PIX",
        **fields,
    }
    body = webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}", **fields)
    if at:
        body["dateCreated"] = at
    assert post_webhook(body).status_code == 200


def _overdue(post_webhook, fake: FakeAsaas, payment: Payment) -> None:
    fake.set_status(payment.provider_payment_id, "OVERDUE")
    _post(post_webhook, payment, "payment_overdue", status="OVERDUE")
    deliver_due()


def _customer_mail(subject_part: str) -> list:
    """The customer's messages (WhatsApp first in the rules, in pt-BR) whose subject has it."""
    return [n for n in Notification.objects.all() if subject_part in n.subject]


def test_an_expired_pix_cancels_the_order_and_tells_the_customer(
    settings, fake_asaas: FakeAsaas, pix_payment, post_webhook
):
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "cancel"
    pid = pix_payment.provider_payment_id

    _overdue(post_webhook, fake_asaas, pix_payment)

    pix_payment.refresh_from_db()
    assert pix_payment.status == PaymentStatus.EXPIRED
    assert "not paid by its due date" in pix_payment.failure_reason
    order = pix_payment.order
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert fake_asaas.payments[pid]["deleted"] is True  # can no longer be paid
    assert len(fake_asaas.requests_to("DELETE", f"/payments/{pid}")) == 1
    assert Payment.objects.filter(order=order).count() == 1  # no new charge
    (message,) = _customer_mail("o código Pix expirou")
    assert message.recipient == "+5511911112222"
    assert order.number in message.subject
    assert message.template == "payment_expired" and message.channel == "whatsapp"
    # Asaas then reports the deletion we asked for: nothing changes, nothing is flagged.
    _post(post_webhook, pix_payment, "payment_deleted", deleted=True)
    pix_payment.refresh_from_db()
    assert pix_payment.status == PaymentStatus.EXPIRED
    assert not ReconciliationException.objects.exists()


def test_an_expired_pix_gets_a_new_charge_whose_code_the_customer_receives(
    settings, fake_asaas: FakeAsaas, pix_payment, post_webhook
):
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "new_charge"
    old_pid = pix_payment.provider_payment_id

    _overdue(post_webhook, fake_asaas, pix_payment)

    pix_payment.refresh_from_db()
    assert pix_payment.status == PaymentStatus.EXPIRED
    assert fake_asaas.payments[old_pid]["deleted"] is True
    order = pix_payment.order
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    new = Payment.objects.filter(order=order).exclude(pk=pix_payment.pk).get()
    assert new.status == PaymentStatus.PENDING
    assert new.method == "pix" and new.provider == "asaas"
    assert new.provider_payment_id in fake_asaas.payments
    assert new.provider_payment_id != old_pid
    assert fake_asaas.payments[new.provider_payment_id]["externalReference"] == f"payment:{new.pk}"
    reissued = DomainEvent.objects.get(type="payment.reissued")
    assert reissued.data["replaces"] == pix_payment.pk
    (message,) = _customer_mail("Um novo código Pix")
    assert new.checkout["pix_payload"] in message.body
    assert new.checkout["invoice_url"] in message.body
    assert not _customer_mail("foi cancelado")  # payment.expired says nothing here
    # The new charge is announced by payment.reissued only, not also as a first Pix code.
    assert Notification.objects.filter(template="payment_pix").count() == 1  # the first charge

    # The customer pays the new code: the order is paid, nothing flagged.
    fake_asaas.pay(new.provider_payment_id)
    _post(post_webhook, new, "payment_received")
    order.refresh_from_db()
    assert order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    assert not ReconciliationException.objects.exists()


def test_the_reaction_run_again_issues_nothing_twice(
    settings, fake_asaas: FakeAsaas, pix_payment, post_webhook
):
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "new_charge"
    _overdue(post_webhook, fake_asaas, pix_payment)
    event = DomainEvent.objects.get(type="payment.expired")

    handle_expired_payment(event)
    handle_expired_payment(event)

    assert Payment.objects.filter(order=pix_payment.order).count() == 2
    assert len(fake_asaas.requests_to("POST", "/payments")) == 2
    assert (
        len(fake_asaas.requests_to("DELETE", f"/payments/{pix_payment.provider_payment_id}")) == 1
    )
    assert DomainEvent.objects.filter(type="payment.reissued").count() == 1


def test_the_action_is_the_one_recorded_at_expiry(settings, fake_asaas: FakeAsaas, pix_payment):
    fake_asaas.set_status(pix_payment.provider_payment_id, "OVERDUE")
    # Expired under "cancel" (its deliveries wait: on_commit never runs in this test)...
    payment_mark_expired(payment=pix_payment, reason="late", order_action="cancel")
    # ...and the setting changes before the reaction runs.
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "new_charge"

    handle_expired_payment(DomainEvent.objects.get(type="payment.expired"))

    pix_payment.order.refresh_from_db()
    assert pix_payment.order.status == OrderStatus.CANCELLED
    assert Payment.objects.filter(order=pix_payment.order).count() == 1


def test_a_pix_paid_before_the_charge_is_deleted_pays_the_order_and_nothing_else(
    settings, fake_asaas: FakeAsaas, pix_payment, post_webhook
):
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "new_charge"
    pid = pix_payment.provider_payment_id
    fake_asaas.pay(pid)  # paid at the last moment: Asaas already shows it received

    _post(post_webhook, pix_payment, "payment_overdue", status="OVERDUE")
    deliver_due()

    pix_payment.refresh_from_db()
    assert pix_payment.status == PaymentStatus.SUCCEEDED
    pix_payment.order.refresh_from_db()
    assert pix_payment.order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    assert fake_asaas.payments[pid]["deleted"] is False
    assert Payment.objects.filter(order=pix_payment.order).count() == 1  # no new charge
    assert not DomainEvent.objects.filter(type="payment.reissued").exists()
    assert not ReconciliationException.objects.exists()


def test_the_old_charge_paid_besides_the_new_one_is_flagged_paid_twice(
    settings, fake_asaas: FakeAsaas, pix_payment, post_webhook, finance_user
):
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "new_charge"
    _overdue(post_webhook, fake_asaas, pix_payment)
    new = Payment.objects.filter(order=pix_payment.order).exclude(pk=pix_payment.pk).get()
    fake_asaas.pay(new.provider_payment_id)
    _post(post_webhook, new, "payment_received", at="2024-06-13 09:00:00")

    # The old charge is restored at Asaas and paid as well (after it expired at 00:05).
    _post(post_webhook, pix_payment, "payment_received", at="2024-06-13 10:00:00", deleted=False)
    deliver_due()

    pix_payment.refresh_from_db()
    assert pix_payment.status == PaymentStatus.SUCCEEDED
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.PAID_TWICE
    assert flagged.payment == pix_payment
    assert "refund due" in flagged.detail
    assert len([m for m in mail.outbox if str(m.subject).startswith("Reconciliation:")]) == 1


def test_an_overdue_boleto_does_not_expire(
    settings, fake_asaas: FakeAsaas, provider, monkeypatch, post_webhook
):
    settings.PAYMENT_PROVIDER = "asaas"
    monkeypatch.setattr("payments.workflows.get_payment_provider", lambda name=None: provider)
    order = make_order(customer=make_asaas_customer(), amount=15_000, payment_method="boleto")
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    payment = Payment.objects.get(order=order)

    _post(post_webhook, payment, "payment_overdue", status="OVERDUE", billingType="BOLETO")
    deliver_due()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    assert not DomainEvent.objects.filter(type="payment.expired").exists()
    assert fake_asaas.requests_to("DELETE", f"/payments/{payment.provider_payment_id}") == []


def test_start_up_refuses_an_unknown_action(monkeypatch):
    import config.settings.asaas as asaas_settings

    monkeypatch.setenv("ASAAS_PIX_EXPIRED_ORDER_ACTION", "refund")
    monkeypatch.delenv("ASAAS_ENABLED", raising=False)
    try:
        with pytest.raises(ImproperlyConfigured, match="cancel, new_charge"):
            importlib.reload(asaas_settings)
    finally:
        monkeypatch.undo()
        importlib.reload(asaas_settings)


def test_a_success_older_than_the_expiry_is_news_for_finance(
    settings, fake_asaas: FakeAsaas, pix_payment, post_webhook, finance_user
):
    settings.ASAAS_PIX_EXPIRED_ORDER_ACTION = "cancel"
    _overdue(post_webhook, fake_asaas, pix_payment)  # expired at 2024-06-13 00:05

    # Asaas says it was received at 16:45 the day before: it contradicts the expiry.
    _post(post_webhook, pix_payment, "payment_received", at="2024-06-12 16:45:03")
    deliver_due()

    pix_payment.refresh_from_db()
    assert pix_payment.status == PaymentStatus.EXPIRED
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.PAID_AFTER_CANCEL  # order cancelled
    assert len([m for m in mail.outbox if str(m.subject).startswith("Reconciliation:")]) == 1


def test_a_new_pix_charge_sends_the_customer_its_qr_code_and_copy_and_paste_code(
    pix_payment, fake_asaas: FakeAsaas
):
    # payment.created comes before the provider's answer; payment.checkout_ready carries it.
    ready = DomainEvent.objects.get(type="payment.checkout_ready", subject_id=str(pix_payment.pk))
    assert ready.data["pix_code"] == pix_payment.checkout["pix_payload"]
    assert ready.data["pix_qr_image"] == (
        "data:image/png;base64," + pix_payment.checkout["pix_encoded_image"]
    )
    deliver_due()

    message = Notification.objects.get(template="payment_pix")
    assert (message.channel, message.recipient) == ("whatsapp", "+5511911112222")
    assert pix_payment.checkout["pix_payload"] in message.body
    assert message.attachment.kind == "image"
    assert message.attachment.source == ready.data["pix_qr_image"]
    assert message.status == "sent"
    assert not mail.outbox  # e-mail is the fallback only
