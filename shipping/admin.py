from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.admin_utils import (
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    ReadOnlyAdminMixin,
    money_column,
)
from shipping.models import Shipment, TrackingEvent

# Set by our services from the carrier's answers; editing them by hand would break the record.
PROVIDER_OWNED_FIELDS = (
    "status",
    "tracking_code",
    "provider_shipment_id",
    "label_url",
    "cost_amount",
    "cost_currency",
    "created_at",
    "updated_at",
    "posted_at",
    "delivered_at",
    "last_tracking_at",
    "tracking_status",
)

TRACKING_EVENT_FIELDS = (
    "occurred_at",
    "status",
    "carrier_code",
    "carrier_message",
    "location",
    "needs_attention",
    "recorded_at",
)


class TrackingEventInline(admin.TabularInline):
    """Every scan the carrier reported, with its own code and message."""

    model = TrackingEvent
    fields = TRACKING_EVENT_FIELDS
    readonly_fields = TRACKING_EVENT_FIELDS
    extra = 0
    ordering = ("-occurred_at", "-id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TrackingEvent)
class TrackingEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Carrier scans; filter *needs attention* for the ops list (unknown carrier codes,
    cancellations and losses at the carrier)."""

    list_display = (
        "occurred_at",
        "shipment",
        "status",
        "carrier_code",
        "location",
        "needs_attention",
    )
    list_filter = ("needs_attention", "status")
    search_fields = ("shipment__tracking_code__exact", "carrier_code__exact")
    list_select_related = ("shipment",)
    fields = ("shipment", *TRACKING_EVENT_FIELDS)
    readonly_fields = fields
    ordering = ("-recorded_at", "-id")
    actions = None


@admin.register(Shipment)
class ShipmentAdmin(MoneyFieldsAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "order_number",
        "customer",
        "carrier",
        "status",
        "tracking_status",
        "tracking_code",
        "cost",
        "created_at",
    )
    list_filter = ("status", "tracking_status", "carrier")
    inlines = [TrackingEventInline]
    # Exact matches on indexed columns; order numbers case-insensitive. Tracking codes are
    # upper-case at every carrier, so a code typed in lower case is looked up upper-cased too
    # (get_search_results), still through the index.
    search_fields = ("tracking_code__exact", "provider_shipment_id__exact", "order__number__iexact")
    search_help_text = "Tracking code (any case), carrier shipment id or order number (exact)."
    list_select_related = ("order", "order__customer")
    raw_id_fields = ("order",)
    readonly_fields = PROVIDER_OWNED_FIELDS
    ordering = ("-created_at", "-id")
    cost = money_column("cost_amount", "cost_currency", "Cost")
    money_fields = {"cost_amount": "cost"}

    @admin.display(description="Order", ordering="order__number")
    def order_number(self, obj: Shipment) -> str:
        return obj.order.number

    @admin.display(description="Customer")
    def customer(self, obj: Shipment) -> str:
        return str(obj.order.customer)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Shipment], search_term: str
    ) -> tuple[QuerySet[Shipment], bool]:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term and term != term.upper():
            found = found | queryset.filter(tracking_code=term.upper())
        return found, may_have_duplicates

    def get_readonly_fields(self, request: HttpRequest, obj: Shipment | None = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))  # with the money displays
        if obj is not None:
            return ("order", "carrier", *readonly)
        return readonly

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Shipments start through ``shipment_create``, which also moves the order along.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Shipment | None = None) -> bool:
        return False
