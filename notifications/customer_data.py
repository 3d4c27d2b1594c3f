"""The messages' part of a customer's data export and context summary (``accounts.customers``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.customers.export import export_rows, export_value, register_customer_export_section
from accounts.customers.summary import register_customer_summary_part
from accounts.customers.timeline_search import register_timeline_text_search
from accounts.models import Customer
from notifications.models import ConsentAction, ConsentRecord, Notification, NotificationChannel
from notifications.policy.models import NotificationPreference

_NOTIFICATION_FIELDS = [
    "id",
    "order_id",
    "channel",
    "template",
    "category",
    "recipient",
    "subject",
    "body",
    "status",
    "provider",
    "provider_message_id",
    "error",
    "created_at",
    "sent_at",
    "delivered_at",
    "read_at",
]
_CONSENT_FIELDS = ["id", "channel", "action", "source", "detail", "address", "occurred_at"]
_PREFERENCE_FIELDS = ["id", "category", "channel", "allowed", "source", "set_at"]


def notifications_export(customer: Customer) -> list[dict[str, Any]]:
    rows = Notification.objects.filter(customer=customer).order_by("created_at", "id")
    return export_rows(rows, _NOTIFICATION_FIELDS)


def consent_ledger_export(customer: Customer) -> list[dict[str, Any]]:
    rows = ConsentRecord.objects.filter(customer=customer).order_by("occurred_at", "id")
    return export_rows(rows, _CONSENT_FIELDS)


def message_preferences_export(customer: Customer) -> list[dict[str, Any]]:
    """Every preference the customer gave, oldest first (the newest of a category and channel
    is the current one)."""
    rows = NotificationPreference.objects.filter(customer=customer).order_by("set_at", "id")
    return export_rows(rows, _PREFERENCE_FIELDS)


def consent_summary(customer: Customer) -> dict[str, Any]:
    """Per channel: ``opted_out``, ``opted_in`` or ``unknown`` (never said), with when. One
    query: the ledger's newest row per channel, picked in Python from the customer's rows."""
    newest: dict[str, ConsentRecord] = {}
    for record in ConsentRecord.objects.filter(customer=customer).order_by(
        "channel", "-occurred_at", "-id"
    ):
        newest.setdefault(record.channel, record)
    out = {}
    for channel in NotificationChannel.values:
        record = newest.get(channel)
        if record is None:
            out[channel] = {"state": "unknown", "since": None}
        else:
            state = "opted_out" if record.action == ConsentAction.OPT_OUT else "opted_in"
            out[channel] = {"state": state, "since": export_value(record.occurred_at)}
    return out


def notifications_matching(customer_id: int, term: str) -> QuerySet[Any, Any]:
    """The customer's messages whose subject or body contains ``term`` (the customer page's
    timeline search); a LIKE over this customer's rows only, found by the customer index."""
    return (
        Notification.objects.filter(customer_id=customer_id)
        .filter(Q(body__icontains=term) | Q(subject__icontains=term))
        .values("pk")
    )


def register_customer_data() -> None:
    register_timeline_text_search(Notification, notifications_matching)
    register_customer_export_section("notifications", notifications_export)
    register_customer_export_section("consent_ledger", consent_ledger_export)
    register_customer_export_section("message_preferences", message_preferences_export)
    register_customer_summary_part("consent", consent_summary)
