from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from usage.models import QuarantinedUsageEvent, TrackedEvent, TrackedProperty
from usage.services import usage_quarantine_release


class TrackedPropertyInline(admin.TabularInline):
    model = TrackedProperty
    extra = 1
    fields = ("name", "type", "required")


@admin.register(TrackedEvent)
class TrackedEventAdmin(admin.ModelAdmin):
    """The tracking plan: event names, their properties and types. Quarantined events are
    checked against it again when released."""

    list_display = ("name", "description", "property_list", "additional_properties", "updated_at")
    search_fields = ("name",)
    fields = ("name", "description", "feature_property", "additional_properties")
    inlines = [TrackedPropertyInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TrackedEvent]:
        return super().get_queryset(request).prefetch_related("properties")

    @admin.display(description="Properties")
    def property_list(self, obj: TrackedEvent) -> str:
        return ", ".join(
            f"{p.name}: {p.type}{'' if p.required else '?'}" for p in obj.properties.all()
        )


@admin.register(QuarantinedUsageEvent)
class QuarantinedUsageEventAdmin(admin.ModelAdmin):
    """Usage events the plan refused, as sent, with the reason; released (checked again, then
    counted) by the action. Never edited or deleted here: nothing the product sent is dropped."""

    list_display = ("received_at", "event", "client_event_id", "customer_label", "reason", "status")
    list_filter = ("status", "event")
    search_fields = ("client_event_id__exact", "event__exact")
    search_help_text = "Exact event id or event name."
    readonly_fields = (
        "client_event_id",
        "source",
        "event",
        "customer_ref",
        "customer",
        "timestamp",
        "properties",
        "reason",
        "status",
        "received_at",
        "released_at",
        "released_by",
    )
    fields = readonly_fields
    list_select_related = ("customer",)
    actions = ["release_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Customer")
    def customer_label(self, obj: QuarantinedUsageEvent) -> str:
        if obj.customer is not None:
            return str(obj.customer)
        ref = obj.customer_ref
        if isinstance(ref, dict):
            return ", ".join(f"{k}: {v}" for k, v in ref.items())[:80]
        return str(ref)[:80]

    @admin.action(
        description="Release selected events (check them against the plan again)",
        permissions=["change"],
    )
    def release_selected(
        self, request: HttpRequest, queryset: QuerySet[QuarantinedUsageEvent]
    ) -> None:
        actor = request.user if isinstance(request.user, User) else None
        result = usage_quarantine_release(events=queryset, actor=actor)
        self.message_user(
            request,
            f"Released {result.released} event(s); {result.still_quarantined} still quarantined "
            "(see their reasons).",
            messages.SUCCESS if not result.still_quarantined else messages.WARNING,
        )
