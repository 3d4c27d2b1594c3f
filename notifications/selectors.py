from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from notifications.models import EmailSuppression, Notification


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
