"""PAYMENT_RESTORED reopens a charge Asaas had deleted (``POST /v3/payments/{id}/restore``), so a
payment of it afterwards is applied, not put on the reconciliation list as contradicting a final
state; every order of delivery of deleted / restored / paid ends the same."""

from __future__ import annotations

import itertools
import uuid

import pytest
import requests
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.models import DomainEvent, WebhookEvent
from orders.models import OrderStatus
from orders.services import order_cancel
from payments.models import Payment, PaymentMethod, PaymentStatus, ReconciliationException
from payments.providers.base import PaymentRequest
from payments.services import payment_create
from payments.subscribers import cancel_payments_of_cancelled_order, start_payment_for_order
from tests.factories import events_for, make_order
from tests.payments.asaas.conftest import API_KEY, FakeAsaas, make_asaas_customer, webhook_body

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)

DELETED = ("payment_deleted", "2024-06-12 17:00:00")
RESTORED = ("payment_restored", "2024-06-12 17:05:00")
RECEIVED = ("payment_received", "2024-06-12 17:10:00")


def _payment() -> Payment:
    order = make_order(
        customer=make_asaas_customer(), amount=10_000, payment_method=PaymentMethod.PIX
    )
    return payment_create(order=order, provider="asaas", method=PaymentMethod.PIX)


def _body(payment: Payment, fact: tuple[str, str], **fields) -> dict:
    fixture, at = fact
    fields.setdefault("id", f"pay_{payment.pk:012d}")
    fields.setdefault("externalReference", f"payment:{payment.pk}")
    fields.setdefault("value", payment.amount / 100)
    if fixture == "payment_restored":
        body = webhook_body("payment_created", event_id=f"evt_{uuid.uuid4().hex}", **fields)
        body["event"] = "PAYMENT_RESTORED"
    else:
        body = webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}&{next(_ids)}", **fields)
    body["dateCreated"] = at
    return body


def test_deleted_then_restored_then_paid_is_applied(post_webhook):
    payment = _payment()

    for fact in (DELETED, RESTORED, RECEIVED):
        assert post_webhook(_body(payment, fact)).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    assert not ReconciliationException.objects.exists()
    assert [e.type for e in events_for(payment)] == [
        "payment.created",
        "payment.cancelled",
        "payment.restored",
        "payment.succeeded",
    ]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_a_restore_alone_makes_a_deleted_payment_pending_again(post_webhook):
    payment = _payment()
    post_webhook(_body(payment, DELETED))

    post_webhook(_body(payment, RESTORED))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_updated_at is not None
    assert payment.order.status == OrderStatus.PLACED


@pytest.mark.parametrize(
    "sequence", list(itertools.permutations([DELETED, RESTORED, RECEIVED])), ids=str
)
def test_any_order_of_delivery_ends_paid_with_nothing_flagged(post_webhook, sequence):
    payment = _payment()
    bodies = [_body(payment, fact) for fact in sequence]

    for body in bodies + bodies:  # and every delivery again
        assert post_webhook(body).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.order.status in (OrderStatus.PAID, OrderStatus.FULFILLING)
    assert not ReconciliationException.objects.exists()
    assert DomainEvent.objects.filter(type="payment.succeeded").count() == 1


def test_a_late_restore_never_reopens_a_paid_payment(post_webhook):
    payment = _payment()
    post_webhook(_body(payment, RECEIVED))

    post_webhook(_body(payment, RESTORED))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert not DomainEvent.objects.filter(type="payment.restored").exists()
    assert not ReconciliationException.objects.exists()


def test_a_payment_asaas_still_shows_deleted_is_not_restored_but_flagged(post_webhook):
    payment = _payment()
    post_webhook(_body(payment, DELETED))

    post_webhook(_body(payment, RECEIVED, deleted=True))

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert not DomainEvent.objects.filter(type="payment.restored").exists()
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.CONTRADICTS_FINAL


def test_a_charge_restored_at_asaas_after_the_order_was_cancelled_is_paid_and_flagged_once(
    settings, fake_asaas: FakeAsaas, provider, monkeypatch, post_webhook, finance_user
):
    settings.PAYMENT_PROVIDER = "asaas"
    monkeypatch.setattr("payments.workflows.get_payment_provider", lambda name=None: provider)
    order = make_order(customer=make_asaas_customer(), amount=12_000, payment_method="pix")
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=str(order.pk)))
    payment = Payment.objects.get(order=order)
    pid = payment.provider_payment_id
    order_cancel(order=order, reason="customer asked")
    cancel_payments_of_cancelled_order(
        DomainEvent.objects.get(type="order.cancelled", subject_id=str(order.pk))
    )
    assert fake_asaas.payments[pid]["deleted"] is True
    with pytest.raises(ValueError):
        fake_asaas.pay(pid)  # deleted: the customer cannot pay it

    # Someone restores it at Asaas; the customer pays it.
    assert _restore_at_asaas(fake_asaas, pid).status_code == 200
    paid = fake_asaas.pay(pid)
    common = {"id": pid, "externalReference": f"payment:{payment.pk}", "value": 120.0}
    post_webhook(_body(payment, RESTORED, **common))
    post_webhook(_body(payment, RECEIVED, **{**common, "status": paid["status"]}))
    deliver_due()

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.PAID_AFTER_CANCEL
    assert len([m for m in mail.outbox if str(m.subject).startswith("Reconciliation:")]) == 1


def _restore_at_asaas(fake: FakeAsaas, pid: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(f"{fake.url}/payments/{pid}/restore", headers={"access_token": API_KEY})


def test_the_fake_restores_only_a_deleted_charge(fake_asaas: FakeAsaas, provider):
    payment = _payment()
    pid = provider.create_payment(
        request=PaymentRequest(
            reference=f"payment:{payment.pk}", amount=10_000, currency="BRL", method="pix"
        )
    ).provider_payment_id

    refused = _restore_at_asaas(fake_asaas, pid)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "invalid_action"
    fake_asaas.delete_payment(fake_asaas.payments[pid])
    assert _restore_at_asaas(fake_asaas, pid).status_code == 200
    assert fake_asaas.payments[pid]["deleted"] is False
    assert fake_asaas.pay(pid)["status"] == "RECEIVED"
