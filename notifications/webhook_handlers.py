"""Applying a messaging provider's status facts through the notification services.

Shared by every provider whose events reduce to the same facts: the payload's ``data`` carries
``reference`` (our ``notification:<pk>``), ``id`` (the provider's message id) and, for a failure,
``error``. Facts apply in any order: a fact the notification has moved past (delivered after
read, failed after delivered) is a no-op, so every permutation ends in the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from integrations.facts import ObjectNotReady, apply_fact, referenced
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from notifications.exceptions import MessageIdMismatch
from notifications.models import Notification, NotificationStatus
from notifications.services import (
    notification_mark_delivered,
    notification_mark_failed,
    notification_mark_read,
)


def message_fact(kind: str) -> Handler:
    """A handler for ``delivered``, ``read`` or ``failed``. It raises ObjectNotReady while the
    notification is still queued (our send has not been recorded yet; the inbox retries) and
    MessageIdMismatch when the provider's id is not the one we recorded."""

    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        data = parsed.payload["data"]
        notification: Notification = referenced(Notification, data)
        if notification.status == NotificationStatus.QUEUED:
            raise ObjectNotReady(f"{notification} is not recorded as sent yet.")
        message_id = str(data.get("id", "")).strip()
        if notification.provider_message_id and message_id != notification.provider_message_id:
            raise MessageIdMismatch(
                f"{notification}: the provider says message {message_id or '(none)'}, "
                f"we have {notification.provider_message_id}."
            )
        at = parsed.occurred_at
        actions: dict[str, Callable[[], Any]] = {
            "delivered": lambda: notification_mark_delivered(
                notification=notification, occurred_at=at
            ),
            "read": lambda: notification_mark_read(notification=notification, occurred_at=at),
            "failed": lambda: notification_mark_failed(
                notification=notification,
                error=str(data.get("error", "")) or "Reported failed by the provider",
                occurred_at=at,
            ),
        }
        return apply_fact(parsed, notification, actions[kind])

    return handle


MESSAGE_FACT_HANDLERS: dict[str, Handler] = {
    "message.delivered": message_fact("delivered"),
    "message.read": message_fact("read"),
    "message.failed": message_fact("failed"),
}
