from __future__ import annotations

from integrations.models import DomainEvent
from notifications.rules import RULES, customer_message_for

SHIPMENT_DATA = {
    "order": "SB-000042",
    "carrier": "sandbox",
    "service": "economy",
    "tracking_code": "SB123456789BR",
    "status": "in_transit",
    "location": "Campinas, SP",
}


def test_the_rules_cover_the_promised_events() -> None:
    assert set(RULES) == {
        "order.paid",
        "payment.failed",
        "shipment.posted",
        "shipment.in_transit",
        "shipment.out_for_delivery",
        "shipment.delivered",
        "refund.succeeded",
    }


def test_order_paid_names_the_order() -> None:
    message = RULES["order.paid"]({"number": "SB-000042"})

    assert message.template == "order_paid"
    assert "SB-000042" in message.subject
    assert "SB-000042" in message.body


def test_shipment_messages_carry_the_order_and_tracking_code() -> None:
    for event_type in ("shipment.posted", "shipment.in_transit", "shipment.out_for_delivery"):
        message = RULES[event_type](SHIPMENT_DATA)

        assert message.template == event_type.replace(".", "_")
        assert "SB-000042" in message.subject
        assert "SB123456789BR" in message.body
    assert "Campinas, SP" in RULES["shipment.in_transit"](SHIPMENT_DATA).body
    delivered = RULES["shipment.delivered"](SHIPMENT_DATA)
    assert delivered.template == "shipment_delivered"
    assert "SB-000042" in delivered.body


def test_refund_succeeded_formats_the_money() -> None:
    message = RULES["refund.succeeded"]({"amount": 199990, "currency": "BRL"})

    assert message.template == "refund_succeeded"
    assert "R$ 1,999.90" in message.body


def test_a_rule_survives_missing_data() -> None:
    assert "your order" in RULES["shipment.posted"]({}).body
    assert "your refund" in RULES["refund.succeeded"]({}).body


def test_customer_message_for_picks_the_rule_by_type() -> None:
    paid = DomainEvent(type="order.paid", data={"number": "SB-000042"})
    note = DomainEvent(type="note.added", data={})

    message = customer_message_for(paid)

    assert message is not None and message.template == "order_paid"
    assert customer_message_for(note) is None


def test_payment_failed_says_what_to_do_with_the_retry_link() -> None:
    message = RULES["payment.failed"](
        {
            "order": "SB-000042",
            "amount": 2_550,
            "currency": "BRL",
            "reason": "Asaas: the card capture was refused.",
            "customer_reason": "Your card was declined.",
            "retry_url": "https://sandbox.asaas.com/i/123",
        }
    )

    assert message.template == "payment_failed"
    assert "SB-000042" in message.subject
    assert "R$ 25.50" in message.body
    assert "Your card was declined." in message.body
    assert "https://sandbox.asaas.com/i/123" in message.body
    assert "capture" not in message.body  # the staff reason is not the customer's


def test_payment_failed_without_a_link_offers_help_and_never_an_unsafe_link() -> None:
    plain = RULES["payment.failed"]({"order": "SB-000042"})
    unsafe = RULES["payment.failed"]({"order": "SB-000042", "retry_url": "javascript:alert(1)"})

    for message in (plain, unsafe):
        assert "Reply to this message" in message.body
        assert "javascript" not in message.body
    assert "your order" in RULES["payment.failed"]({}).body
