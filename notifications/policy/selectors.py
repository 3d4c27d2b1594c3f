"""Reads the send policy makes: preferences, the WhatsApp window, approved templates."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import Customer
from notifications.models import MessageCategory, NotificationChannel
from notifications.policy.models import NotificationPreference, WhatsAppInbound, WhatsAppTemplate

WHATSAPP_WINDOW = timedelta(hours=24)


def preference_allowed(*, customer_id: int, category: str, channel: str) -> bool:
    """The customer's current preference for ``category`` on ``channel`` (the newest ledger
    row); allowed when they never said. One indexed query."""
    allowed = (
        NotificationPreference.objects.filter(
            customer_id=customer_id, category=category, channel=channel
        )
        .order_by("-set_at", "-id")
        .values_list("allowed", flat=True)
        .first()
    )
    return allowed is None or bool(allowed)


def preferences_of(*, customer_id: int) -> dict[tuple[str, str], bool]:
    """Every (category, channel) of the customer with its current preference (one query)."""
    rows = (
        NotificationPreference.objects.filter(customer_id=customer_id)
        .order_by("set_at", "id")
        .values_list("category", "channel", "allowed")
    )
    current = {
        (category, channel): True
        for category in MessageCategory.values
        for channel in NotificationChannel.values
    }
    for category, channel, allowed in rows:  # oldest first: the newest wins
        current[(category, channel)] = bool(allowed)
    return current


def whatsapp_last_inbound(*, customer_id: int, provider: str) -> datetime | None:
    """When the customer last wrote to us on WhatsApp through ``provider`` (one indexed query)."""
    return (
        WhatsAppInbound.objects.filter(customer_id=customer_id, provider=provider)
        .order_by("-received_at")
        .values_list("received_at", flat=True)
        .first()
    )


def whatsapp_window_open(*, customer_id: int, provider: str, now: datetime) -> bool:
    """Whether WhatsApp's 24-hour customer-service window is open: the customer wrote to us
    through ``provider`` less than 24 hours before ``now``."""
    last = whatsapp_last_inbound(customer_id=customer_id, provider=provider)
    return last is not None and now - last < WHATSAPP_WINDOW


def customer_language(customer: Customer) -> str:
    return customer.language or str(settings.CUSTOMER_DEFAULT_LANGUAGE)


def approved_template(*, key: str, language: str, provider: str) -> WhatsAppTemplate | None:
    """The approved template registered for (our key, language, provider), if any."""
    return WhatsAppTemplate.objects.filter(
        key=key, language=language, provider=provider, approved=True
    ).first()
