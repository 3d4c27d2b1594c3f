"""Admin screens; imported by integrations/admin.py."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import ngettext

from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin
from integrations.deliveries.registry import registered_subscribers
from integrations.deliveries.relay import delivery_retry
from integrations.events import render_summary
from integrations.exceptions import InvalidTransition
from integrations.models import Delivery


class SubscriberFilter(admin.SimpleListFilter):
    """Lists the registered subscribers, so the filter costs no DISTINCT over the table."""

    title = "subscriber"
    parameter_name = "subscriber"

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(s.name, s.name) for s in registered_subscribers()]

    def queryset(self, request: Any, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        value = self.value()
        return queryset.filter(subscriber=value) if value else queryset


@admin.register(Delivery)
class DeliveryAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "subscriber",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "error_excerpt",
    )
    list_filter = ("status", SubscriberFilter, ("created_at", admin.DateFieldListFilter))
    # An integer comparison on the event_id index (get_search_results); "=event__id" was an
    # __iexact, a LIKE over the cast column.
    search_fields = ("event__id",)
    search_help_text = "Event id (exact)."
    list_select_related = ("event",)
    # The primary key follows creation order and is indexed; created_at is not.
    ordering = ("-id",)
    actions = ["retry_selected"]
    fields = (
        "event_link",
        "event_type",
        "event_summary",
        "subscriber",
        "status",
        "attempts",
        "created_at",
        "claimed_at",
        "next_attempt_at",
        "completed_at",
        "last_error",
    )
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Delivery], search_term: str
    ) -> tuple[QuerySet[Delivery], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return (queryset.filter(event_id=int(term)) if term.isdigit() else queryset.none()), False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).select_related("event")

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description="Event")
    def event_link(self, obj: Delivery) -> str:
        url = reverse("admin:integrations_domainevent_change", args=[obj.event_id])
        return format_html('<a href="{}">{}</a>', url, obj.event)

    @admin.display(description="Summary")
    def event_summary(self, obj: Delivery) -> str:
        return render_summary(obj.event)

    @admin.display(description="Last error")
    def error_excerpt(self, obj: Delivery) -> str:
        return Truncator(obj.last_error).chars(80)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_delivery")

    @admin.action(description="Retry selected", permissions=["retry"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        actor = request.user if isinstance(request.user, AbstractBaseUser) else None
        retried = skipped = 0
        for delivery in queryset.order_by("id"):
            try:
                delivery_retry(delivery=delivery, actor=actor)
            except InvalidTransition:
                skipped += 1
            else:
                retried += 1
        if retried:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery queued for retry.",
                    "%(count)d deliveries queued for retry.",
                    retried,
                )
                % {"count": retried},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery skipped: only failed or dead deliveries can be retried.",
                    "%(count)d deliveries skipped: only failed or dead deliveries can be retried.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
