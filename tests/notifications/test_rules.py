from __future__ import annotations

from integrations.events import Payload, get_event_type
from integrations.models import DomainEvent
from notifications.rules import RULES, CustomerMessage, customer_message_for

SHIPMENT_DATA = {
    "order": "SB-000042",
    "carrier": "sandbox",
    "service": "economy",
    "tracking_code": "SB123456789BR",
    "status": "in_transit",
    "location": "Campinas, SP",
}


def _payload(event_type: str, data: dict) -> Payload:
    """The typed payload of a stored row with ``data`` (missing fields read empty)."""
    return get_event_type(event_type).payload.from_stored(data)


def _rule(event_type: str, data: dict) -> CustomerMessage:
    message = RULES[event_type](_payload(event_type, data))
    assert message is not None
    return message


def test_the_rules_cover_the_promised_events() -> None:
    assert set(RULES) == {
        "order.paid",
        "payment.failed",
        "payment.expired",
        "payment.reissued",
        "shipment.posted",
        "shipment.in_transit",
        "shipment.out_for_delivery",
        "shipment.delivered",
        "shipment.delayed",
        "shipment.exception",
        "refund.succeeded",
    }


def test_order_paid_names_the_order() -> None:
    message = _rule("order.paid", {"number": "SB-000042"})

    assert message.template == "order_paid"
    assert "SB-000042" in message.subject
    assert "SB-000042" in message.body


def test_shipment_messages_carry_the_order_and_tracking_code() -> None:
    for event_type in ("shipment.posted", "shipment.in_transit", "shipment.out_for_delivery"):
        message = _rule(event_type, SHIPMENT_DATA)

        assert message.template == event_type.replace(".", "_")
        assert "SB-000042" in message.subject
        assert "SB123456789BR" in message.body
    assert "Campinas, SP" in _rule("shipment.in_transit", SHIPMENT_DATA).body
    delivered = _rule("shipment.delivered", SHIPMENT_DATA)
    assert delivered.template == "shipment_delivered"
    assert "SB-000042" in delivered.body


def test_refund_succeeded_formats_the_money() -> None:
    message = _rule("refund.succeeded", {"amount": 199990, "currency": "BRL"})

    assert message.template == "refund_succeeded"
    assert "R$ 1.999,90" in message.body


def test_a_rule_survives_missing_data() -> None:
    assert "your order" in _rule("shipment.posted", {}).body
    assert "your refund" in _rule("refund.succeeded", {}).body


def test_customer_message_for_picks_the_rule_by_type() -> None:
    paid = DomainEvent(type="order.paid", data={"number": "SB-000042"})
    note = DomainEvent(type="note.added", data={})

    message = customer_message_for(paid)

    assert message is not None and message.template == "order_paid"
    assert customer_message_for(note) is None


def test_payment_failed_says_what_to_do_with_the_retry_link() -> None:
    message = _rule(
        "payment.failed",
        {
            "order": "SB-000042",
            "amount": 2_550,
            "currency": "BRL",
            "reason": "Asaas: the card capture was refused.",
            "customer_reason": "Your card was declined.",
            "retry_url": "https://sandbox.asaas.com/i/123",
        },
    )

    assert message.template == "payment_failed"
    assert "SB-000042" in message.subject
    assert "R$ 25,50" in message.body
    assert "Your card was declined." in message.body
    assert "https://sandbox.asaas.com/i/123" in message.body
    assert "capture" not in message.body  # the staff reason is not the customer's


def test_payment_failed_without_a_link_offers_help_and_never_an_unsafe_link() -> None:
    plain = _rule("payment.failed", {"order": "SB-000042"})
    unsafe = _rule("payment.failed", {"order": "SB-000042", "retry_url": "javascript:alert(1)"})

    for message in (plain, unsafe):
        assert "Reply to this message" in message.body
        assert "javascript" not in message.body
    assert "your order" in _rule("payment.failed", {}).body


def test_payment_expired_tells_of_the_cancellation_only_when_the_order_is_cancelled() -> None:
    cancelled = _rule("payment.expired", {"order": "SB-000042", "order_action": "cancel"})

    assert cancelled.template == "payment_expired"
    assert "SB-000042" in cancelled.subject and "cancelled" in cancelled.body
    # A new charge replaces it: payment.reissued tells the customer, with the new code.
    new_charge = _payload("payment.expired", {"order": "SB-000042", "order_action": "new_charge"})
    assert RULES["payment.expired"](new_charge) is None
    expired = DomainEvent(type="payment.expired", data={"order_action": "new_charge"})
    assert customer_message_for(expired) is None


def test_payment_reissued_carries_the_new_code_and_page() -> None:
    message = _rule(
        "payment.reissued",
        {
            "order": "SB-000042",
            "amount": 15_000,
            "currency": "BRL",
            "pix_code": "00020101021226820014br.gov.bcb.pix",
            "retry_url": "https://sandbox.asaas.com/i/9",
        },
    )

    assert message.template == "payment_reissued"
    assert "R$ 150,00" in message.body
    assert "00020101021226820014br.gov.bcb.pix" in message.body
    assert "https://sandbox.asaas.com/i/9" in message.body
    bare = _rule("payment.reissued", {"retry_url": "http://insecure.example/i/9"})
    assert "insecure" not in bare.body and "your order" in bare.body
