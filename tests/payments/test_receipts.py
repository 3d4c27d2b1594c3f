"""The customer's receipt: when a payment succeeds, the ``payment_receipt`` notification rule
(seeded by a data migration) e-mails the amount, the method and the order's lines in major units,
and never the provider's fee."""

from __future__ import annotations

import pytest
from django.core import mail

from integrations.events import event_payload
from integrations.models import DomainEvent
from notifications.models import Notification, NotificationRule
from notifications.subscribers import notify_customer
from orders.services import OrderLineInput
from payments.events import PaymentSucceededPayload
from payments.models import Payment
from payments.services import payment_create, payment_mark_succeeded
from payments.workflows import payment_fetch_money_facts
from tests.factories import make_customer, make_order

pytestmark = pytest.mark.django_db


def _lines() -> list[OrderLineInput]:
    return [
        OrderLineInput(sku="CAF-250", description="Café 250 g", quantity=2, unit_amount=4_990),
        OrderLineInput(sku="MUG-01", description="Caneca", quantity=1, unit_amount=5_900),
    ]


def _succeeded(language: str = "pt-br") -> tuple[Payment, DomainEvent]:
    customer = make_customer(phone="", language=language)
    order = make_order(customer=customer, lines=_lines())
    payment = payment_create(
        order=order, provider="sandbox", method="pix", provider_payment_id=f"sbx_pay_{order.pk}"
    )
    payment = payment_mark_succeeded(payment=payment)
    event = DomainEvent.objects.get(type="payment.succeeded", subject_id=str(payment.pk))
    return payment, event


def test_the_receipt_rule_is_seeded_on_payment_succeeded_by_email() -> None:
    rule = NotificationRule.objects.get(template="payment_receipt")
    assert rule.event_type == "payment.succeeded"
    assert rule.channels == "email"
    assert rule.active
    assert "{{ money }}" in rule.body_pt_br and "{{ money }}" in rule.body_en


def test_payment_succeeded_carries_the_orders_lines() -> None:
    _, event = _succeeded()
    payload = event_payload(event)
    assert isinstance(payload, PaymentSucceededPayload)
    assert [(line["sku"], line["quantity"], line["total_amount"]) for line in payload.lines] == [
        ("CAF-250", 2, 9_980),
        ("MUG-01", 1, 5_900),
    ]


def test_the_customer_gets_a_receipt_with_lines_and_amount_and_no_fee() -> None:
    payment, event = _succeeded()
    payment_fetch_money_facts(payment_id=payment.pk)  # the sandbox reports its fee
    payment.refresh_from_db()
    assert payment.fee_amount and payment.fee_amount > 0

    notify_customer(event)

    (email,) = mail.outbox
    assert email.to == [payment.order.customer.email]
    assert email.subject == f"Recibo do seu pagamento do pedido {payment.order.number}"
    body = email.body
    assert "Recebemos seu pagamento de R$ 158,80 por Pix" in body
    assert "2 x Café 250 g: R$ 99,80" in body
    assert "1 x Caneca: R$ 59,00" in body
    assert "Valor pago: R$ 158,80" in body
    assert "15880" not in body and "9980" not in body  # never minor units
    fee = f"R$ {payment.fee_amount // 100},{payment.fee_amount % 100:02d}"
    assert fee not in body
    assert "taxa" not in body.lower()
    assert Notification.objects.get().template == "payment_receipt"


def test_an_english_speaking_customer_gets_the_english_receipt() -> None:
    payment, event = _succeeded(language="en")

    notify_customer(event)

    (email,) = mail.outbox
    assert email.subject == f"Receipt for your payment for {payment.order.number}"
    assert "We received your payment of R$ 158,80 by Pix" in email.body
    assert "2 x Café 250 g: R$ 99,80" in email.body


def test_a_payment_succeeded_event_stored_before_lines_existed_still_sends() -> None:
    _, event = _succeeded()
    # As read back from a row written before the payload had lines (rows are append-only).
    event.data = {key: value for key, value in event.data.items() if key != "lines"}

    notify_customer(event)

    (email,) = mail.outbox
    assert "Recebemos seu pagamento de R$ 158,80 por Pix" in email.body
    assert "Itens:" not in email.body
