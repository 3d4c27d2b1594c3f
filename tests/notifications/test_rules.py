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
