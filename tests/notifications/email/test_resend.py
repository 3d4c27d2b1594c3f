"""E-mail through django-anymail's Resend backend on the shared outbound client, against the fake
Resend API: rendered in the customer's language (text and HTML), one Idempotency-Key per
notification so a retry never sends twice, refusals terminal, outages retried."""

from __future__ import annotations

import json
from typing import Any

import pytest

from accounts.models import Customer
from integrations.deliveries.relay import is_terminal
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import DomainEvent, ProviderCall
from notifications.channels.base import OutboundMessage
from notifications.channels.email.adapter import EmailChannel
from notifications.models import Notification, NotificationStatus
from notifications.workflows import notification_send_for_event
from tests.factories import make_customer, make_order
from tests.support.fake_resend import FakeResend

pytestmark = pytest.mark.django_db


def _message(reference: str = "notification:7", language: str = "pt-br") -> OutboundMessage:
    return OutboundMessage(
        reference=reference,
        channel="email",
        recipient="ana@example.test",
        subject="Pagamento recebido: SB-000007",
        body="Recebemos o pagamento do pedido SB-000007.\n\nAvisaremos quando for enviado.",
        template="order_paid",
        language=language,
        recipient_name="Ana Souza",
    )


def test_an_email_is_sent_through_resend_with_text_html_and_the_idempotency_key(
    fake_resend: FakeResend,
) -> None:
    sent = EmailChannel().send(message=_message())

    [email] = fake_resend.sent
    assert sent.provider == "email" and sent.provider_message_id == email["id"]
    assert email["to"] == ["ana@example.test"]
    assert email["from"] == "Loja Exemplo <loja@example.test>"
    assert email["subject"] == "Pagamento recebido: SB-000007"
    assert email["text"].startswith("Olá, Ana Souza!\n\nRecebemos o pagamento")
    assert "Loja Exemplo" in email["text"]
    assert '<html lang="pt-BR">' in email["html"]
    assert "<p>Avisaremos quando for enviado.</p>" in email["html"]
    [request] = fake_resend.requests
    assert request["headers"]["idempotency-key"] == "notification:7"
    call = ProviderCall.objects.get(provider="resend")
    assert call.operation == "email.send" and call.idempotency_key == "notification:7"
    assert "re_test" not in json.dumps(
        {f.name: str(getattr(call, f.name)) for f in ProviderCall._meta.fields}
    )


def test_the_language_follows_the_customer_and_defaults_from_settings(
    fake_resend: FakeResend, settings: Any
) -> None:
    EmailChannel().send(message=_message("notification:1", language="en"))
    settings.CUSTOMER_DEFAULT_LANGUAGE = "en"
    EmailChannel().send(message=_message("notification:2", language=""))
    settings.CUSTOMER_DEFAULT_LANGUAGE = "pt-br"
    EmailChannel().send(message=_message("notification:3", language="fr"))

    english, default_english, fallback = fake_resend.sent
    assert english["text"].startswith("Hi Ana Souza,") and '<html lang="en">' in english["html"]
    assert default_english["text"].startswith("Hi Ana Souza,")
    assert fallback["text"].startswith("Olá, Ana Souza!")


def test_html_escapes_what_the_text_carries(fake_resend: FakeResend) -> None:
    message = OutboundMessage(
        reference="notification:9",
        channel="email",
        recipient="ana@example.test",
        subject="Hi",
        body="<script>alert(1)</script> see https://pay.example.test/x",
        recipient_name="<b>Ana</b>",
    )
    EmailChannel().send(message=message)

    [email] = fake_resend.sent
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]
    assert "&lt;b&gt;Ana&lt;/b&gt;" in email["html"]
    assert '<a href="https://pay.example.test/x"' in email["html"]
    assert "<script>alert(1)</script>" in email["text"]  # plain text is not HTML


@pytest.mark.parametrize("fault", ["500", "timeout", "timeout_after_send"])
def test_a_5xx_or_timeout_is_retried_with_the_same_key_and_one_email_is_sent(
    fake_resend: FakeResend, fault: str
) -> None:
    fake_resend.fail(fault)

    sent = EmailChannel().send(message=_message())

    assert len(fake_resend.sent) == 1 and sent.provider_message_id == fake_resend.sent[0]["id"]
    keys = {r["headers"]["idempotency-key"] for r in fake_resend.requests}
    assert keys == {"notification:7"} and len(fake_resend.requests) == 2


def test_an_outage_raises_provider_unavailable_and_a_retry_later_sends_once(
    fake_resend: FakeResend,
) -> None:
    fake_resend.fail("500", "500", "500", "500", "500", "500")
    with pytest.raises(ProviderUnavailable):
        EmailChannel().send(message=_message())
    fake_resend.faults.clear()

    EmailChannel().send(message=_message())

    assert len(fake_resend.sent) == 1


def test_a_wrong_api_key_is_a_terminal_refusal(fake_resend: FakeResend, settings: Any) -> None:
    settings.ANYMAIL = {**settings.ANYMAIL, "RESEND_API_KEY": "re_wrong"}

    with pytest.raises(ProviderRejected) as refused:
        EmailChannel().send(message=_message())

    assert refused.value.status_code == 403 and is_terminal(refused.value)
    assert fake_resend.sent == []


def test_the_notification_workflow_sends_in_the_customers_language(
    fake_resend: FakeResend,
) -> None:
    customer: Customer = make_customer(
        email="bia@example.test", phone="", name="Bia Lima", language="en"
    )
    order = make_order(customer=customer, paid=True)
    event = DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))

    notification_send_for_event(event=event)
    notification_send_for_event(event=event)  # a redelivery sends nothing more

    [email] = fake_resend.sent
    assert email["to"] == ["bia@example.test"] and email["text"].startswith("Hi Bia Lima,")
    notification = Notification.objects.get(customer=customer, channel="email")
    assert notification.status == NotificationStatus.SENT
    assert notification.provider_message_id == email["id"]
