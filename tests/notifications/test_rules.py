"""Notification rules as data (issue 13 item 6): seeded rows render what the old Python rules
said, in English and pt-BR; templates are validated; an admin edit takes effect at once."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.events import get_event_type
from integrations.models import DomainEvent
from notifications.models import NotificationRule
from notifications.rules import CustomerMessage, customer_message_for, render_rule, rule_problems

pytestmark = pytest.mark.django_db

SHIPMENT_DATA = {
    "order": "SB-000042",
    "carrier": "sandbox",
    "service": "economy",
    "tracking_code": "SB123456789BR",
    "status": "in_transit",
    "location": "Campinas, SP",
}


def _message(event_type: str, data: dict[str, Any], language: str = "en") -> CustomerMessage:
    message = customer_message_for(DomainEvent(type=event_type, data=data), language=language)
    assert message is not None
    return message


def _rule(template: str) -> NotificationRule:
    return NotificationRule.objects.get(template=template)


def test_the_seeded_rules_cover_the_promised_events() -> None:
    assert set(NotificationRule.objects.values_list("event_type", flat=True)) == {
        "order.paid",
        "payment.failed",
        "payment.expired",
        "payment.reissued",
        "payment.checkout_ready",
        "shipment.posted",
        "shipment.in_transit",
        "shipment.out_for_delivery",
        "shipment.delivered",
        "shipment.delayed",
        "shipment.exception",
        "refund.succeeded",
        "payment.succeeded",
    }
    for rule in NotificationRule.objects.all():
        # The receipt is an e-mail only; every other rule tries WhatsApp, then SMS, then e-mail.
        channels = ["email"] if rule.template == "payment_receipt" else ["whatsapp", "sms", "email"]
        assert rule.active and rule.channel_list == channels
        assert rule.fallback_minutes == 30
        assert rule_problems(rule) == {}, rule.template


def test_every_seeded_rule_renders_its_example_in_both_languages() -> None:
    for rule in NotificationRule.objects.all():
        example = get_event_type(rule.event_type).payload.example()
        for language in ("en", "pt-br"):
            message = render_rule(rule, example, language=language, force=True)
            assert message is not None and message.body and message.subject, rule.template
            assert "{" not in message.body + message.subject, (rule.template, message.body)


def test_order_paid_names_the_order_in_the_customers_language() -> None:
    english = _message("order.paid", {"number": "SB-000042"})
    portuguese = _message("order.paid", {"number": "SB-000042"}, language="pt-br")

    assert english.template == portuguese.template == "order_paid"
    assert english.subject == "Payment received for SB-000042"
    assert "We received your payment for SB-000042." in english.body
    assert portuguese.subject == "Recebemos seu pagamento do pedido SB-000042"
    assert "Recebemos seu pagamento do pedido SB-000042." in portuguese.body
    assert english.order == "SB-000042"
    # Blank and unknown languages read CUSTOMER_DEFAULT_LANGUAGE (pt-br), then English.
    assert _message("order.paid", {"number": "SB-1"}, language="").subject.startswith("Recebemos")
    assert _message("order.paid", {"number": "SB-1"}, language="fr").subject.startswith("Recebemos")


def test_shipment_messages_carry_the_order_and_tracking_code() -> None:
    for event_type in ("shipment.posted", "shipment.in_transit", "shipment.out_for_delivery"):
        message = _message(event_type, SHIPMENT_DATA)

        assert message.template == event_type.replace(".", "_")
        assert "SB-000042" in message.subject
        assert "Tracking code: SB123456789BR." in message.body
        pt = _message(event_type, SHIPMENT_DATA, language="pt-br")
        assert "Código de rastreio: SB123456789BR." in pt.body
    assert "(last seen in Campinas, SP)" in _message("shipment.in_transit", SHIPMENT_DATA).body
    delivered = _message("shipment.delivered", SHIPMENT_DATA)
    assert delivered.template == "shipment_delivered"
    assert "SB-000042" in delivered.body


def test_refund_succeeded_formats_the_money_in_major_units() -> None:
    data = {"amount": 199990, "currency": "BRL", "order": "SB-7"}

    assert "a refund of R$ 1.999,90 for SB-7." in _message("refund.succeeded", data).body
    assert "um reembolso de R$ 1.999,90 do pedido SB-7." in (
        _message("refund.succeeded", data, language="pt-br").body
    )


def test_a_rule_survives_missing_data() -> None:
    assert "your order" in _message("shipment.posted", {}).body
    assert "seu pedido" in _message("shipment.posted", {}, language="pt-br").body
    assert "your refund" in _message("refund.succeeded", {}).body


def test_an_event_without_an_active_rule_sends_nothing() -> None:
    assert customer_message_for(DomainEvent(type="note.added", data={})) is None
    assert customer_message_for(DomainEvent(type="order.placed", data={})) is None
    _rule("order_paid").__class__.objects.filter(template="order_paid").update(active=False)
    assert customer_message_for(DomainEvent(type="order.paid", data={"number": "SB-1"})) is None


def test_payment_failed_says_what_to_do_with_the_retry_link() -> None:
    message = _message(
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
    plain = _message("payment.failed", {"order": "SB-000042"})
    unsafe = _message("payment.failed", {"order": "SB-000042", "retry_url": "javascript:alert(1)"})

    for message in (plain, unsafe):
        assert "Reply to this message" in message.body
        assert "javascript" not in message.body
    assert "your order" in _message("payment.failed", {}).body


def test_payment_expired_tells_of_the_cancellation_only_when_the_order_is_cancelled() -> None:
    cancelled = _message("payment.expired", {"order": "SB-000042", "order_action": "cancel"})

    assert cancelled.template == "payment_expired"
    assert "SB-000042" in cancelled.subject and "cancelled" in cancelled.body
    # A new charge replaces it: payment.reissued tells the customer, with the new code.
    expired = DomainEvent(type="payment.expired", data={"order_action": "new_charge"})
    assert customer_message_for(expired) is None


def test_payment_reissued_carries_the_new_code_and_page() -> None:
    message = _message(
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
    bare = _message("payment.reissued", {"retry_url": "http://insecure.example/i/9"})
    assert "insecure" not in bare.body and "your order" in bare.body
    assert "Reply to this message" in bare.body


PIX: dict[str, Any] = {
    "order": "SB-000042",
    "amount": 15_000,
    "currency": "BRL",
    "provider": "asaas",
    "method": "pix",
    "pix_code": "00020126580014br.gov.bcb.pix0136example",
    "pix_qr_image": "data:image/png;base64,iVBORw0KGgo=",
    "pix_expires_at": "2030-03-05 23:59:59",
}
BOLETO: dict[str, Any] = {
    "order": "SB-000043",
    "amount": 9_990,
    "currency": "BRL",
    "provider": "asaas",
    "method": "boleto",
    "boleto_url": "https://sandbox.asaas.com/b/pdf/abc",
    "due_date": "2030-03-08",
}


def test_a_pix_charge_sends_the_qr_image_and_the_copy_and_paste_code() -> None:
    message = _message("payment.checkout_ready", PIX, language="pt-br")

    assert message.template == "payment_pix"
    assert message.urgent is True
    assert "00020126580014br.gov.bcb.pix0136example" in message.body
    assert "R$ 150,00" in message.body and "5 de março de 2030" in message.body
    assert message.attachment is not None
    assert message.attachment.kind == "image"
    assert message.attachment.source == PIX["pix_qr_image"]
    # No QR image from the provider: the code alone, no file.
    bare = _message("payment.checkout_ready", {**PIX, "pix_qr_image": ""})
    assert bare.attachment is None and PIX["pix_code"] in bare.body


def test_a_boleto_charge_sends_the_slip_as_a_document_and_its_link() -> None:
    message = _message("payment.checkout_ready", BOLETO)

    assert message.template == "payment_boleto"
    assert "https://sandbox.asaas.com/b/pdf/abc" in message.body
    assert "due on 8 March 2030" in message.body and "R$ 99,90" in message.body
    assert message.attachment is not None
    assert (message.attachment.kind, message.attachment.filename) == (
        "document",
        "boleto-SB-000043.pdf",
    )
    # A card charge, or a boleto without an https slip, sends nothing.
    assert (
        customer_message_for(
            DomainEvent(type="payment.checkout_ready", data={**BOLETO, "method": "card"})
        )
        is None
    )
    assert (
        customer_message_for(
            DomainEvent(type="payment.checkout_ready", data={**BOLETO, "boleto_url": "http://x/b"})
        )
        is None
    )


def test_an_admin_edit_takes_effect_at_the_next_event() -> None:
    event = DomainEvent(type="order.paid", data={"number": "SB-9"})
    assert "Thank you!" in _message("order.paid", {"number": "SB-9"}).body

    rule = _rule("order_paid")
    rule.body_en = "Paid, {{ customer_name }}: {{ number }}."
    rule.save()

    message = customer_message_for(event, language="en", customer_name="Ana")
    assert message is not None and message.body == "Paid, Ana: SB-9."


def _problems(**changes: Any) -> dict[str, str]:
    rule = _rule("order_paid")
    for name, value in changes.items():
        setattr(rule, name, value)
    return rule_problems(rule)


def test_a_template_error_or_an_unknown_variable_is_the_fields_problem() -> None:
    assert "Template error" in _problems(body_en="Paid {% if number %}")["body_en"]
    assert "Template error" in _problems(subject_pt_br="{{ number|nofilter }}")["subject_pt_br"]
    unknown = _problems(body_pt_br="Pedido {{ numbre }}")["body_pt_br"]
    assert "Unknown variable 'numbre'" in unknown and "number" in unknown
    # Hidden in a branch, a filter's argument or a condition: found all the same.
    assert "'tracking'" in _problems(body_en="{% if number %}{{ tracking }}{% endif %}")["body_en"]
    assert "'currency'" in _problems(body_en="{{ number|default:currency }}")["body_en"]
    assert "'method'" in _problems(condition='method == "pix"')["condition"]
    assert "Condition error" in _problems(condition="number ==")["condition"]
    # What a {% for %} or {% with %} binds is known inside it.
    assert _problems(body_en="{% with n=number %}{{ n }}{% endwith %}") == {}


def test_channels_and_attachments_are_checked() -> None:
    assert "Unknown channel telegram" in _problems(channels="whatsapp,telegram")["channels"]
    assert "once" in _problems(channels="email,email")["channels"]
    assert "at least one" in _problems(channels=" , ")["channels"]
    assert "both" in _problems(attachment_kind="image")["attachment_source"]
    assert "Unknown event type" in _problems(event_type="nope.nothing")["event_type"]


def test_a_long_rendered_subject_is_cut_to_what_a_notification_holds() -> None:
    from notifications.rules import SUBJECT_MAX_LENGTH, _one_line

    cut = _one_line("Pedido  " + "x" * 300 + "\n")
    assert len(cut) == SUBJECT_MAX_LENGTH and cut.endswith("…") and "\n" not in cut
    assert _one_line(" Seu   pedido\nchegou ") == "Seu pedido chegou"
