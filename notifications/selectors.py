from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from notifications.models import EmailSuppression, Notification, NotificationStatus


def customer_ids_by_provider_message_id(term: str) -> QuerySet[Notification, Any]:
    """Customer ids of the notifications the provider knows by exactly this message id."""
    return Notification.objects.filter(provider_message_id=term).values("customer_id")


def email_suppression_for(address: str) -> EmailSuppression | None:
    """The active suppression of ``address`` (case-insensitive), if any."""
    return (
        EmailSuppression.objects.filter(address=address.strip().lower(), cleared_at__isnull=True)
        .order_by()
        .first()
    )


def notification_by_provider_message_id(*, provider: str, message_id: str) -> Notification | None:
    """The notification ``provider`` sent as ``message_id`` (the oldest, should two share it)."""
    if not message_id:
        return None
    return (
        Notification.objects.filter(provider=provider, provider_message_id=message_id)
        .order_by("pk")
        .first()
    )


def notification_awaiting_send_result(*, channel: str, phone_digits: str) -> bool:
    """Whether a notification on ``channel`` to a phone ending in the last 8 of ``phone_digits``
    is still queued: a provider status about a message we do not know may be about it (sent,
    its id not recorded yet). Only the last 8 digits count, because WhatsApp may drop the ninth
    digit of a Brazilian mobile number."""
    tail = phone_digits[-8:]
    if len(tail) < 8 or not tail.isascii() or not tail.isdigit():
        return False
    return Notification.objects.filter(
        channel=channel, status=NotificationStatus.QUEUED, recipient__endswith=tail
    ).exists()
