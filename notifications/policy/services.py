"""Writes of the send policy: refusing and deferring a notification, the customer's
preferences, and the inbound WhatsApp messages that open the 24-hour window."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer, User
from integrations.events import record_event
from integrations.transitions import lock
from notifications.exceptions import NotificationNotAllowed
from notifications.models import (
    MessageCategory,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Refusal,
)
from notifications.policy.models import NotificationPreference, WhatsAppInbound
from notifications.policy.selectors import preferences_of
from notifications.services import notification_mark_failed


def notification_refuse(*, notification: Notification, refusal: str, reason: str) -> Notification:
    """queued -> failed because the send policy refused it: ``refusal`` (a ``Refusal`` code)
    and the sentence go on the row and on the ``notification.failed`` event, in one
    transaction. Idempotent on an already failed notification."""
    if refusal not in Refusal.values:
        raise NotificationNotAllowed(f"Unknown refusal {refusal!r}.")
    return notification_mark_failed(notification=notification, error=reason, refusal=refusal)


def notification_defer(
    *, notification: Notification, send_after: datetime, reason: str
) -> Notification:
    """Hold a queued notification back until ``send_after`` (UTC) with a
    ``notification.deferred`` event saying why; the ``notifications-send-due`` job sends it
    then. Idempotent: deferring again to the same time writes nothing; a notification no longer
    queued is returned as it is."""
    with transaction.atomic():
        current = lock(notification)
        if current.status != NotificationStatus.QUEUED or current.send_after == send_after:
            return current
        current.send_after = send_after
        current.save(update_fields=["send_after", "updated_at"])
        record_event(
            type="notification.deferred",
            customer=current.customer,
            subject=current,
            actor_label="system",
            data={
                "channel": current.channel,
                "channel_label": current.get_channel_display(),
                "template": current.template,
                "recipient": current.recipient,
                "order": current.order.number if current.order is not None else "",
                "send_after": send_after.isoformat(),
                "reason": reason,
            },
        )
    return current


def notification_preferences_set(
    *,
    customer: Customer,
    preferences: Mapping[tuple[str, str], bool],
    actor: User | None = None,
    source: str = "staff",
) -> list[NotificationPreference]:
    """Record the customer's preferences, ``{(category, channel): allowed}``: one ledger row per
    pair that changes, and one ``notification.preferences_changed`` event listing them. Pairs
    that do not change write nothing (idempotent). Transactional e-mail cannot be turned off:
    asking to raises NotificationNotAllowed, as does an unknown category or channel."""
    for category, channel in preferences:
        if category not in MessageCategory.values or channel not in NotificationChannel.values:
            raise NotificationNotAllowed(f"Unknown preference {category!r}/{channel!r}.")
        if (
            category == MessageCategory.TRANSACTIONAL
            and channel == NotificationChannel.EMAIL
            and not preferences[(category, channel)]
        ):
            raise NotificationNotAllowed(
                "Transactional e-mail is always sent: it cannot be turned off."
            )
    now = timezone.now()
    with transaction.atomic():
        lock(customer)
        current = preferences_of(customer_id=customer.pk)
        rows = [
            NotificationPreference.objects.create(
                customer=customer,
                category=category,
                channel=channel,
                allowed=allowed,
                actor=actor,
                source=source[:60],
                set_at=now,
            )
            for (category, channel), allowed in sorted(preferences.items())
            if current.get((category, channel), True) != bool(allowed)
        ]
        if rows:
            record_event(
                type="notification.preferences_changed",
                customer=customer,
                subject=customer,
                actor=actor,
                actor_label="" if actor is not None else source,
                data={
                    "changes": "; ".join(
                        f"{MessageCategory(row.category).label} by "
                        f"{NotificationChannel(row.channel).label}: "
                        f"{'on' if row.allowed else 'off'}"
                        for row in rows
                    )
                },
            )
    return rows


def whatsapp_inbound_record(
    *,
    customers: list[Customer],
    provider: str,
    phone: str,
    received_at: datetime,
    message_id: str = "",
) -> list[WhatsAppInbound]:
    """The customers with ``phone`` wrote to us on WhatsApp through ``provider`` at
    ``received_at``: it opens (or keeps open) WhatsApp's 24-hour window for them. A message
    already recorded (the same provider message id for the same customer) writes nothing."""
    recorded = []
    for customer in customers:
        if (
            message_id
            and WhatsAppInbound.objects.filter(
                customer=customer, provider=provider, message_id=message_id
            ).exists()
        ):
            continue
        recorded.append(
            WhatsAppInbound.objects.create(
                customer=customer,
                provider=provider,
                phone=phone,
                message_id=message_id[:100],
                received_at=received_at,
            )
        )
    return recorded
