"""The order page's messages (``orders.hub``), registered by ``NotificationsConfig.ready``:
the notifications sent about the order, one query."""

from __future__ import annotations

from django.urls import reverse

from notifications.models import Notification
from orders.hub import HubPart, HubRow, hub_time, register_order_hub_part
from orders.models import Order


def _message_rows(order: Order, limit: int) -> list[HubRow]:
    messages = Notification.objects.filter(order=order).order_by("-created_at", "-id")[:limit]
    return [
        HubRow(
            cells=(
                f"Message #{message.pk}",
                message.get_channel_display(),
                message.template,
                message.recipient,
                message.get_status_display() + (f": {message.error}" if message.error else ""),
                hub_time(message.created_at),
                hub_time(message.delivered_at),
            ),
            url=reverse("admin:notifications_notification_change", args=[message.pk]),
            permission="notifications.view_notification",
        )
        for message in messages
    ]


def register_hub_parts() -> None:
    register_order_hub_part(
        HubPart(
            key="messages",
            title="Messages",
            position=50,
            columns=(
                "Message",
                "Channel",
                "Template",
                "Recipient",
                "Status",
                "Queued (UTC)",
                "Delivered (UTC)",
            ),
            empty="No messages about this order yet. The e-mails and WhatsApp messages sent "
            "when it is paid, ships, is delivered or refunded appear here.",
            rows=_message_rows,
        )
    )
