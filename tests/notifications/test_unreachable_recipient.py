"""A recipient who is not on WhatsApp is terminal for that message: one attempt, the
notification failed at once with the reason, never retried; the e-mail still goes out. A
provider's "not now" refusal (429) is retried instead."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from accounts.models import Customer
from integrations.deliveries.relay import deliver_due
from integrations.exceptions import ProviderRejected
from integrations.models import Delivery, DomainEvent
from integrations.providers import MESSAGING, ProviderSpec
from notifications.channels.base import OutboundMessage, SentMessage
from notifications.channels.sandbox.adapter import SandboxWhatsAppChannel
from notifications.models import Notification, NotificationStatus
from notifications.subscribers import notify_customer
from tests.factories import make_customer, make_paid_payment
from tests.support.shipping import EmitRecorder

pytestmark = pytest.mark.django_db

NOTIFY = "notifications.notify_customer"


@pytest.fixture
def unreachable(db: None) -> Customer:
    return make_customer(name="Rui", email="rui@example.test", phone="+5511987650000")


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every WhatsApp send attempt, by recipient."""
    attempts: list[str] = []
    real = SandboxWhatsAppChannel.send

    def counting(self: SandboxWhatsAppChannel, *, message: OutboundMessage) -> SentMessage:
        attempts.append(message.recipient)
        return real(self, message=message)

    monkeypatch.setattr(SandboxWhatsAppChannel, "send", counting)
    return attempts


def test_not_on_whatsapp_fails_the_message_at_once_after_one_attempt(
    unreachable: Customer,
    sends: list[str],
    emitted: EmitRecorder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        make_paid_payment(customer=unreachable)
    for _ in range(3):  # the sweeper comes by again: nothing left to run
        deliver_due()

    whatsapp = Notification.objects.get(channel="whatsapp", template="order_paid")
    assert whatsapp.status == NotificationStatus.FAILED
    assert whatsapp.error == "Recipient is not on WhatsApp"
    assert sends == ["+5511987650000"]  # one attempt, not five
    assert emitted.calls == []
    delivery = Delivery.objects.get(subscriber=NOTIFY, event__type="order.paid")
    assert (delivery.status, delivery.attempts) == (Delivery.Status.SUCCEEDED, 1)
    failed = DomainEvent.objects.get(type="notification.failed")
    assert failed.data["error"] == "Recipient is not on WhatsApp"
    # The rule's next usable channel (no provider carries SMS here) went out as a fallback.
    email = Notification.objects.get(channel="email", template="order_paid")
    assert (email.status, email.previous, email.previous_reason) == ("sent", whatsapp, "fallback")
    # The order_paid fallback, besides the payment's e-mailed receipt (payment_receipt).
    fallback = [m for m in mail.outbox if m.subject == email.subject]
    assert [m.to for m in fallback] == [["rui@example.test"]]
    assert len(mail.outbox) == 2


class _TooManyRequests:
    name = "throttled"

    def send(self, *, message: OutboundMessage) -> SentMessage:
        raise ProviderRejected("429 Too Many Requests", provider=self.name, status_code=429)


spec = ProviderSpec(
    family=MESSAGING.name,
    name=_TooManyRequests.name,
    adapter=f"{__name__}._TooManyRequests",
    enabled_by="TEST_CHANNEL_ENABLED",
    channels=("whatsapp",),
)


def test_a_not_now_refusal_is_retried_and_the_message_stays_queued(
    settings: Any, customer: Customer
) -> None:
    # This module is a provider package too: it exports ``spec`` (below).
    settings.MESSAGE_PROVIDERS = [*settings.MESSAGE_PROVIDERS, __name__]
    settings.TEST_CHANNEL_ENABLED = True
    settings.MESSAGE_CHANNELS = {**settings.MESSAGE_CHANNELS, "whatsapp": _TooManyRequests.name}
    order = make_paid_payment(customer=customer).order
    event = DomainEvent.objects.get(type="order.paid", subject_id=str(order.pk))

    with pytest.raises(ProviderRejected, match="429"):
        notify_customer(event)

    whatsapp = Notification.objects.get(channel="whatsapp")
    assert whatsapp.status == NotificationStatus.QUEUED
    assert whatsapp.error == ""
    # "Not now" is no failure: no fallback to the next channel, the retry sends it.
    assert not Notification.objects.filter(channel="email").exists()
