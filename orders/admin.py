from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from integrations.admin_utils import LargeTableAdminMixin, money_column
from orders.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = ("sku", "description", "quantity", "unit_amount", "total_amount")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("number", "customer", "status", "total", "placed_at")
    list_filter = ("status", "currency")
    search_fields = ("number__exact", "customer__email", "customer__name")
    search_help_text = "Order number (exact), customer e-mail or name."
    list_select_related = ("customer",)
    date_hierarchy = "placed_at"
    raw_id_fields = ("customer",)
    inlines = [OrderLineInline]
    readonly_fields = (
        "number",
        "customer",
        "status",
        "currency",
        "subtotal_amount",
        "shipping_amount",
        "discount_amount",
        "total_amount",
        "placed_at",
        "status_changed_at",
        "updated_at",
    )
    total = money_column("total_amount", "currency", "Total")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from the product and the API, through order_place

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
