"""The staff alerts list (ops and finance read it); imported by integrations/admin.py."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from integrations.admin_utils import ReadOnlyAdminMixin
from integrations.models import StaffAlert


@admin.register(StaffAlert)
class StaffAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What ops and finance were told, to Slack and by e-mail: written by the alert services
    only. Repeats held back inside an alert's window are counted on it."""

    list_display = (
        "raised_at",
        "kind",
        "title",
        "role",
        "repeats",
        "slack_status",
        "email_status",
        "open_link",
    )
    list_filter = ("kind", "role", "slack_status", "email_status")
    search_fields = ("object_key__exact",)
    search_help_text = "What the alert is about, exactly (breaker:zapi, delivery:12)."
    readonly_fields = (
        "kind",
        "role",
        "object_key",
        "title",
        "text",
        "open_link",
        "raised_at",
        "last_seen_at",
        "repeats",
        "previous_repeats",
        "slack_status",
        "slack_attempts",
        "slack_error",
        "slack_sent_at",
        "email_status",
        "email_attempts",
        "email_error",
        "email_sent_at",
        "next_attempt_at",
    )
    exclude = ("url", "current", "claimed_until")
    ordering = ("-raised_at", "-id")
    actions = None

    @admin.display(description="Page")
    def open_link(self, obj: StaffAlert) -> str:
        return format_html('<a href="{}">open</a>', obj.url) if obj.url else "-"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[StaffAlert], search_term: str
    ) -> tuple[QuerySet[StaffAlert], bool]:
        term = search_term.strip()
        return (queryset.filter(object_key=term), False) if term else (queryset, False)
