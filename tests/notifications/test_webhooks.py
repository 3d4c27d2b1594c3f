from __future__ import annotations

import itertools

import pytest
from django.utils import timezone

from accounts.models import Customer
from integrations.facts import ObjectNotReady
from integrations.models import DomainEvent
from integrations.sandbox import SandboxEvent
from integrations.webhooks.registry import SignatureRejected, get_webhook_endpoint
from notifications.channels.base import OutboundMessage
from notifications.channels.sandbox.adapter import SandboxWhatsAppChannel
from notifications.channels.sandbox.webhooks import endpoint
from notifications.exceptions import MessageIdMismatch
from notifications.models import Notification, NotificationStatus
from notifications.services import notification_mark_sent, notification_queue
from tests.support.shipping import EmitRecorder, deliver, deliver_event, signed

N = NotificationStatus


def _sent(customer: Customer, emitted: EmitRecorder) -> tuple[Notification, list[SandboxEvent]]:
    """A WhatsApp notification sent through the sandbox, and the status facts it emitted."""
    notification = notification_queue(
        customer=customer, channel="whatsapp", template="order_paid", body="Paid, thanks!"
    )
    sent = SandboxWhatsAppChannel().send(
        message=OutboundMessage(
            reference=f"notification:{notification.pk}",
            channel="whatsapp",
            recipient=notification.recipient,
            subject="",
            body=notification.body,
        )
    )
    notification = notification_mark_sent(
        notification=notification,
        provider=sent.provider,
        provider_message_id=sent.provider_message_id,
    )
    return notification, emitted.calls[-1][1]


def _events(notification: Notification, type_: str) -> int:
    return DomainEvent.objects.filter(type=type_, subject_id=str(notification.pk)).count()


def test_the_endpoint_is_registered_when_the_sandbox_is_enabled() -> None:
    assert get_webhook_endpoint("sandbox-messaging") is endpoint
    for event_type in ("message.delivered", "message.read", "message.failed"):
        assert endpoint.handler_for(event_type) is not None
    assert endpoint.handler_for("message.reaction") is None


def test_delivered_then_read(customer: Customer, emitted: EmitRecorder) -> None:
    notification, (delivered, read) = _sent(customer, emitted)

    outcome = deliver_event(endpoint, delivered)
    assert outcome is not None and list(outcome.affected) == [notification]
    notification.refresh_from_db()
    assert notification.status == N.DELIVERED
    assert notification.delivered_at == delivered.occurred_at

    deliver_event(endpoint, read)
    notification.refresh_from_db()
    assert notification.status == N.READ
    assert notification.read_at == read.occurred_at


@pytest.mark.parametrize("arrival", list(itertools.permutations(range(2))))
def test_either_arrival_order_ends_read(
    customer: Customer, emitted: EmitRecorder, arrival: tuple[int, ...]
) -> None:
    notification, events = _sent(customer, emitted)

    for index in arrival:
        deliver_event(endpoint, events[index])
        deliver_event(endpoint, events[index])  # and each one twice

    notification.refresh_from_db()
    assert notification.status == N.READ
    assert _events(notification, "notification.read") == 1


def test_a_failed_message_is_marked_failed_with_the_error(customer: Customer) -> None:
    notification = notification_queue(
        customer=customer, channel="whatsapp", template="order_paid", body="Paid, thanks!"
    )
    notification = notification_mark_sent(
        notification=notification, provider="sandbox", provider_message_id="sbx_msg_1"
    )
    headers, body = signed(
        event_type="message.failed",
        data={
            "reference": f"notification:{notification.pk}",
            "id": "sbx_msg_1",
            "status": "failed",
            "error": "Recipient is not on WhatsApp",
        },
        occurred_at=timezone.now(),
    )

    deliver(endpoint, headers, body)

    notification.refresh_from_db()
    assert notification.status == N.FAILED
    assert notification.error == "Recipient is not on WhatsApp"


def test_a_status_for_a_message_still_queued_is_not_ready(
    customer: Customer, emitted: EmitRecorder
) -> None:
    notification = notification_queue(
        customer=customer, channel="whatsapp", template="order_paid", body="Paid, thanks!"
    )
    headers, body = signed(
        event_type="message.delivered",
        data={"reference": f"notification:{notification.pk}", "id": "sbx_msg_1"},
        occurred_at=timezone.now(),
    )

    with pytest.raises(ObjectNotReady):
        deliver(endpoint, headers, body)

    notification.refresh_from_db()
    assert notification.status == N.QUEUED
    notification_mark_sent(
        notification=notification, provider="sandbox", provider_message_id="sbx_msg_1"
    )
    deliver(endpoint, headers, body)  # the inbox's retry
    notification.refresh_from_db()
    assert notification.status == N.DELIVERED


def test_another_message_id_is_flagged_not_applied(
    customer: Customer, emitted: EmitRecorder
) -> None:
    notification, (delivered, _) = _sent(customer, emitted)
    headers, body = signed(
        event_type=delivered.type,
        data={**delivered.data, "id": "sbx_msg_forged"},
        occurred_at=delivered.occurred_at,
    )

    with pytest.raises(MessageIdMismatch, match="sbx_msg_forged"):
        deliver(endpoint, headers, body)

    notification.refresh_from_db()
    assert notification.status == N.SENT


def test_a_bad_signature_is_rejected(customer: Customer, emitted: EmitRecorder) -> None:
    notification, (delivered, _) = _sent(customer, emitted)
    headers, body = signed(
        event_type=delivered.type, data=delivered.data, occurred_at=delivered.occurred_at
    )
    headers["webhook-signature"] = "v1,bm90IHRoZSBzaWduYXR1cmU="

    with pytest.raises(SignatureRejected):
        deliver(endpoint, headers, body)

    notification.refresh_from_db()
    assert notification.status == N.SENT
