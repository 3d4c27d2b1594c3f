"""Reactions of notifications to other apps' events (run as Delivery rows, retried on failure).

Each is one call to a workflow, idempotent on the event id: a redelivery sends only what is still
queued and never queues twice.
"""

from __future__ import annotations

from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent
from notifications.fallback import notification_fallback_after_failure
from notifications.resend import notification_deliver_resent
from notifications.rule_events import rule_event_types
from notifications.workflows import notification_send_for_event


def notify_customer(event: DomainEvent) -> None:
    """The customer's message for the event (its notification rule), on the rule's first
    channel; returns at once when no active rule names the event's type."""
    notification_send_for_event(event=event)


def deliver_resent(event: DomainEvent) -> None:
    """notification.resent -> the copy handed to its provider (``notification_deliver``)."""
    notification_deliver_resent(event=event)


def fall_back(event: DomainEvent) -> None:
    """A failed notification of a rule: its next channel (``notifications.fallback``)."""
    notification_fallback_after_failure(event=event)


SUBSCRIBERS = [
    Subscriber(
        # Every type a rule may name, so a rule added in the admin takes effect without a deploy.
        name="notifications.notify_customer",
        event_types=rule_event_types(),
        handle=notify_customer,
        atomic=False,
    ),
    Subscriber(
        name="notifications.deliver_resent",
        event_types=frozenset({"notification.resent"}),
        handle=deliver_resent,
        atomic=False,
    ),
    Subscriber(
        name="notifications.fall_back",
        event_types=frozenset({"notification.failed"}),
        handle=fall_back,
        atomic=False,
    ),
]
