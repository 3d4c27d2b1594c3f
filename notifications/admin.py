from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.http import HttpRequest

from accounts.models import Customer
from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin, ids_matching
from notifications.models import Notification, NotificationAttachment


@admin.register(Notification)
class NotificationAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A record of what was sent: rows are written by the notification services only."""

    list_display = ("id", "customer", "channel", "template", "recipient", "status", "created_at")
    list_filter = ("status", "channel")
    # Searched by get_search_results, exact matches through indexes.
    search_fields = ("provider_message_id__exact",)
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
        "attachment_summary",
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

    @admin.display(description="Attachment")
    def attachment_summary(self, obj: Notification) -> str:
        """What the file is, not its bytes (a data: URI can be megabytes of base64)."""
        try:
            file = obj.attachment
        except NotificationAttachment.DoesNotExist:
            return "-"
        source = file.source
        where = (
            source
            if source.startswith("https://")
            else f"{source.split(';', 1)[0]} ({len(source) // 1024} KB inline)"
        )
        name = f" {file.filename}," if file.filename else ""
        return f"{file.get_kind_display()}:{name} {where}"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Notification], search_term: str
    ) -> tuple[QuerySet[Notification], bool]:
        """A recipient is an e-mail address (stored lower-case) or an E.164 phone; the
        customer is found by e-mail through its LOWER(email) index, first."""
        term = search_term.strip()
        if not term:
            return queryset, False
        customers = ids_matching(Customer.objects.filter(Exact(Lower("email"), term.lower())))
        return queryset.filter(
            Q(recipient__in=sorted({term, term.lower()}))
            | Q(provider_message_id=term)
            | Q(customer_id__in=customers)
        ), False
