from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured

from integrations.deliveries.relay import is_terminal
from integrations.exceptions import SwitchboardError
from integrations.models import SandboxWebhook
from notifications.channels import get_channel
from notifications.channels.base import OutboundMessage, RecipientUnreachable
from notifications.channels.email.adapter import EmailChannel
from notifications.channels.sandbox.adapter import SandboxWhatsAppChannel, sandbox_message_id
from tests.support.shipping import EmitRecorder


def _message(channel: str = "whatsapp", recipient: str = "+5511987654321") -> OutboundMessage:
    return OutboundMessage(
        reference="notification:12",
        channel=channel,
        recipient=recipient,
        subject="Payment received for SB-000001",
        body="Thank you! We received your payment for SB-000001.",
    )


def test_get_channel_reads_the_registry() -> None:
    assert isinstance(get_channel("email"), EmailChannel)
    assert isinstance(get_channel("whatsapp"), SandboxWhatsAppChannel)
    assert get_channel("email") is get_channel("email")
    with pytest.raises(ImproperlyConfigured, match="sms"):
        get_channel("sms")


@pytest.mark.django_db
def test_email_goes_through_the_django_backend_with_its_message_id() -> None:
    sent = EmailChannel().send(message=_message("email", "ana@example.test"))

    assert sent.provider == "email"
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ana@example.test"]
    assert email.subject == "Payment received for SB-000001"
    assert "SB-000001" in email.body
    assert email.extra_headers["Message-ID"] == sent.provider_message_id
    assert email.message()["Message-ID"] == sent.provider_message_id
    assert sent.provider_message_id.startswith("<") and "@" in sent.provider_message_id


@pytest.mark.django_db
def test_each_email_gets_its_own_message_id() -> None:
    first = EmailChannel().send(message=_message("email", "ana@example.test"))
    second = EmailChannel().send(message=_message("email", "ana@example.test"))

    assert first.provider_message_id != second.provider_message_id


def test_sandbox_whatsapp_answers_with_a_deterministic_id(emitted: EmitRecorder) -> None:
    first = SandboxWhatsAppChannel().send(message=_message())
    again = SandboxWhatsAppChannel().send(message=_message())

    assert first == again
    assert first.provider == "sandbox"
    assert first.provider_message_id == sandbox_message_id("notification:12")
    assert first.provider_message_id.startswith("sbx_msg_")


def test_sandbox_whatsapp_reports_delivered_then_read(emitted: EmitRecorder) -> None:
    sent = SandboxWhatsAppChannel().send(message=_message())

    assert [endpoint for endpoint, _ in emitted.calls] == ["sandbox-messaging"]
    events = emitted.events
    assert [event.type for event in events] == ["message.delivered", "message.read"]
    assert [dict(event.data) for event in events] == [
        {"reference": "notification:12", "id": sent.provider_message_id, "status": "delivered"},
        {"reference": "notification:12", "id": sent.provider_message_id, "status": "read"},
    ]
    assert events[0].occurred_at < events[1].occurred_at


def test_sandbox_whatsapp_refuses_numbers_ending_in_0000_at_once(emitted: EmitRecorder) -> None:
    with pytest.raises(RecipientUnreachable, match="not on WhatsApp") as refused:
        SandboxWhatsAppChannel().send(message=_message(recipient="+5511987650000"))

    assert is_terminal(refused.value)  # a ProviderRejected retrying cannot help
    assert refused.value.provider == "sandbox"
    assert emitted.calls == []  # nothing sent, no status webhook owed


def test_sandbox_whatsapp_owes_its_webhooks_as_rows_and_wakes_the_sender_after_commit(
    django_capture_on_commit_callbacks, emitted: EmitRecorder, settings: Any
) -> None:
    settings.SANDBOX_SEND_WEBHOOKS = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        SandboxWhatsAppChannel().send(message=_message())

    assert len(callbacks) == 1
    owed = SandboxWebhook.objects.filter(endpoint="sandbox-messaging")
    assert sorted(json.loads(row.body)["type"] for row in owed) == [
        "message.delivered",
        "message.read",
    ]
    assert {row.status for row in owed} == {SandboxWebhook.Status.PENDING}


def test_sandbox_whatsapp_chaos_fails_before_accepting(
    settings: Any, emitted: EmitRecorder
) -> None:
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0

    with pytest.raises(SwitchboardError, match="simulated outage"):
        SandboxWhatsAppChannel().send(message=_message())

    assert emitted.calls == []
