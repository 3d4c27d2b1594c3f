from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from integrations.admin_utils import (
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    ReadOnlyAdminMixin,
    ids_matching,
    money_column,
    order_number_candidates,
    provider_names,
    static_choices_filter,
)
from integrations.forms import MoneyField
from orders.admin import ORDER_PAGE_URLS
from orders.models import Order
from shipping.admin_views import order_shipping_urls
from shipping.models import Shipment, TableRate, TrackingEvent
from shipping.services import table_rate_save

# The order page's shipping panel: quotes, the chosen one, buy and void (shipping.admin_views).
ORDER_PAGE_URLS.append(order_shipping_urls)

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


class TableRateForm(forms.ModelForm):
    """The price typed in major units of the row's currency ("23,50")."""

    amount = MoneyField(currency="BRL", min_value=0, help_text="In the currency's major units.")

    class Meta:
        model = TableRate
        fields = (
            "carrier",
            "service",
            "service_id",
            "postal_prefix",
            "weight_up_to_grams",
            "currency",
            "amount",
            "days",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = self.data.get("currency") or self.instance.currency or "BRL"
        field = self.fields["amount"]
        assert isinstance(field, MoneyField)
        field.set_currency(str(currency))

    def clean_postal_prefix(self) -> str:
        prefix = str(self.cleaned_data["postal_prefix"]).replace("-", "").strip()
        if not (1 <= len(prefix) <= 8 and prefix.isascii() and prefix.isdigit()):
            raise forms.ValidationError("The first 1-8 digits of the destination postal code.")
        return prefix


@admin.register(TableRate)
class TableRateAdmin(admin.ModelAdmin):
    """The prices quotes answer with when no carrier answers in time; each real quote
    refreshes its row, and ops may set one by hand."""

    form = TableRateForm
    list_display = (
        "carrier",
        "service",
        "postal_prefix",
        "weight_up_to_grams",
        "price",
        "days",
        "updated_at",
        "edited_by_staff",
    )
    list_filter = (
        static_choices_filter("carrier", "carrier", provider_names("shipping")),
        "edited_by_staff",
    )
    search_fields = ("postal_prefix__startswith", "service")
    readonly_fields = ("updated_at", "edited_by_staff")
    price = money_column("amount", "currency", "Price")

    def save_model(self, request: HttpRequest, obj: TableRate, form: Any, change: bool) -> None:
        table_rate_save(rate=obj)
