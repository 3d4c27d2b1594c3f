"""Reactions of notifications to other apps' events (run as Delivery rows, retried on failure).

Each is one call to a workflow in ``notifications.workflows``, which is idempotent on the event
id: a redelivery sends only what is still queued and never queues twice.
"""

from __future__ import annotations

from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent
from notifications.resend import notification_deliver_resent
from notifications.rules import RULES
from notifications.workflows import notification_send_for_event


def notify_customer(event: DomainEvent) -> None:
    """The customer's message for the event (``notifications.rules``), by e-mail and WhatsApp."""
    notification_send_for_event(event=event)


def deliver_resent(event: DomainEvent) -> None:
    """notification.resent -> the copy handed to its provider (``notification_deliver``)."""
    notification_deliver_resent(event=event)


SUBSCRIBERS = [
    Subscriber(
        name="notifications.notify_customer",
        event_types=frozenset(RULES),
        handle=notify_customer,
        atomic=False,
    ),
    Subscriber(
        name="notifications.deliver_resent",
        event_types=frozenset({"notification.resent"}),
        handle=deliver_resent,
        atomic=False,
    ),
]
