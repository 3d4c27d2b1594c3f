from __future__ import annotations

from django.contrib import admin

from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A record of what was sent: rows are written by the notification services only."""

    list_display = ("id", "customer", "channel", "template", "recipient", "status", "created_at")
    list_filter = ("status", "channel")
    search_fields = ("recipient__iexact", "provider_message_id__exact", "customer__email__iexact")
    search_help_text = "Recipient, provider message id or customer e-mail (exact)."
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    readonly_fields = (
        "customer",
        "channel",
        "template",
        "recipient",
        "subject",
        "body",
        "status",
        "provider",
        "provider_message_id",
        "error",
        "dedupe_key",
        "created_at",
        "updated_at",
        "sent_at",
        "delivered_at",
        "read_at",
    )
    ordering = ("-created_at", "-id")
