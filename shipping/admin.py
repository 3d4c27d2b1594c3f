from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from integrations.admin_utils import (
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    OrderLinkAdminMixin,
    ReadOnlyAdminMixin,
    ids_matching,
    money_column,
    order_number_candidates,
    provider_names,
    static_choices_filter,
)
from orders.models import Order
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
class ShipmentAdmin(
    OrderLinkAdminMixin, MoneyFieldsAdminMixin, LargeTableAdminMixin, admin.ModelAdmin
):
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
    list_filter = (
        "status",
        "tracking_status",
        static_choices_filter("carrier", "carrier", provider_names("shipping")),
    )
    inlines = [TrackingEventInline]
    # Searched by get_search_results: exact matches on indexed columns, no join.
    search_fields = ("tracking_code__exact",)
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
        """Tracking code (carriers' codes are upper-case, so a code typed in lower case is
        looked up upper-cased too), carrier shipment id, or order number (any case, read
        through the orders' unique index first)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        orders = ids_matching(Order.objects.filter(number__in=order_number_candidates(term)))
        return queryset.filter(
            Q(tracking_code__in=sorted({term, term.upper()}))
            | Q(provider_shipment_id=term)
            | Q(order_id__in=orders)
        ), False

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
