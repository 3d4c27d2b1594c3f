"""Resending a message from the customer's timeline or the notification's page (issue 13 item 8).

``notification_resend`` queues a copy of a notification (same channel, template, subject, body,
attachment, category and order), linked to it (``previous``, reason ``resend``), and records
``notification.resent`` with the staff member as actor, in one transaction. The copy is handed
to the provider after that commits, by the ``notifications.deliver_resent`` subscriber (a
Delivery row, retried with backoff while the provider is down), through ``notification_deliver``:
the send policy (consent, preferences, WhatsApp's window) applies to a resend as to any message.
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from integrations.events import record_event
from integrations.models import DomainEvent
from notifications.exceptions import NotificationNotAllowed
from notifications.models import FollowUpReason, Notification, NotificationChannel
from notifications.services import notification_attachment, notification_queue
from notifications.workflows import notification_deliver


def current_address(notification: Notification) -> str:
    """The customer's address today for the notification's channel (e-mail or phone); may be
    blank."""
    customer = notification.customer
    address = (
        customer.email if notification.channel == NotificationChannel.EMAIL else customer.phone
    )
    return (address or "").strip()


def notification_resend(
    *, notification: Notification, actor: User, to_current_address: bool = False
) -> Notification:
    """Queue a copy of ``notification`` to the same recipient, or to the customer's current
    address for its channel when ``to_current_address`` (normalised as any recipient), and
    record ``notification.resent`` (actor: ``actor``) on the customer's timeline. Returns the
    new, queued notification; its send follows after commit. Every call is a new message (a
    resend is a staff decision, not a retry). Raises NotificationNotAllowed (InvalidRecipient)
    when the current address is missing or invalid; nothing is written then."""
    recipient = notification.recipient
    if to_current_address:
        recipient = current_address(notification)
        if not recipient:
            raise NotificationNotAllowed(
                f"{notification.customer} has no {notification.get_channel_display()} "
                "address on file."
            )
    with transaction.atomic():
        copy = notification_queue(
            customer=notification.customer,
            order=notification.order,
            channel=notification.channel,
            template=notification.template,
            subject=notification.subject,
            body=notification.body,
            recipient=recipient,
            attachment=notification_attachment(notification),
            category=notification.category,
            urgent=notification.urgent,
            previous=notification,
            previous_reason=FollowUpReason.RESEND,
        )
        record_event(
            type="notification.resent",
            customer=notification.customer,
            subject=copy,
            actor=actor,
            data={
                "channel": copy.channel,
                "channel_label": copy.get_channel_display(),
                "template": copy.template,
                "recipient": copy.recipient,
                "order": copy.order.number if copy.order is not None else "",
                "original": notification.pk,
                "original_recipient": notification.recipient,
            },
        )
    return copy


def notification_deliver_resent(*, event: DomainEvent) -> None:
    """``notification.resent`` -> hand the copy (the event's subject) to its provider through
    ``notification_deliver``. Idempotent: a copy no longer queued is left as it is. Provider
    outages raise, so the Delivery row retries."""
    copy = Notification.objects.select_related("customer").filter(pk=event.subject_id).first()
    if copy is not None:
        notification_deliver(notification=copy)
