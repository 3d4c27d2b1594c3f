from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html

from accounts.customers.selectors import entries_visible_to
from accounts.models import Customer, User
from integrations.admin_utils import (
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    ids_matching,
    money_column,
    order_number_candidates,
)
from integrations.providers import STOREFRONTS, specs
from orders.hub import order_hub
from orders.models import Order, OrderLine
from orders.selectors import order_timeline
from orders.services import order_place_again


class OrderLineInline(MoneyFieldsAdminMixin, admin.TabularInline):
    model = OrderLine
    extra = 0
    fields = (
        "sku",
        "description",
        "quantity",
        "unit_amount",
        "total_amount",
        "weight_grams",
        "length_mm",
        "width_mm",
        "height_mm",
    )
    readonly_fields = fields
    can_delete = False
    unit = money_column("unit_amount", "order__currency", "Unit amount")
    line_total = money_column("total_amount", "order__currency", "Total amount")
    money_fields = {"unit_amount": "unit", "total_amount": "line_total"}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Views other apps add under an order's page (shipping's buy and void label), each a function of
# the OrderAdmin answering its URL patterns; orders imports none of those apps.
ORDER_PAGE_URLS: list[Callable[[admin.ModelAdmin[Any]], list[URLPattern]]] = []


@admin.register(Order)
class OrderAdmin(MoneyFieldsAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("number", "customer", "status", "total", "paid", "paid_status", "placed_at")
    list_filter = (
        "status",
        "paid_status",
        "currency",
        ("placed_at", admin.DateFieldListFilter),
    )
    # Searched by get_search_results: exact number, exact e-mail, or part of the name.
    search_fields = ("number",)
    search_help_text = (
        "Order number, storefront (Shopify) order id or customer e-mail (exact), or part of "
        "the customer's name."
    )
    list_select_related = ("customer",)
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
        "amount_paid",
        "paid_status",
        "source",
        "external_id",
        "external_updated_at",
        "placed_at",
        "status_changed_at",
        "updated_at",
        "latest_payment",
    )
    change_form_template = "admin/orders/order/change_form.html"
    total = money_column("total_amount", "currency", "Total")
    paid = money_column("amount_paid", "currency", "Amount paid")
    subtotal = money_column("subtotal_amount", "currency", "Subtotal")
    shipping = money_column("shipping_amount", "currency", "Shipping")
    discount = money_column("discount_amount", "currency", "Discount")
    money_fields = {
        "subtotal_amount": "subtotal",
        "shipping_amount": "shipping",
        "discount_amount": "discount",
        "total_amount": "total",
        "amount_paid": "paid",
    }
    actions = ["place_again"]

    def get_urls(self) -> list[URLPattern]:
        extra = [pattern for urls in ORDER_PAGE_URLS for pattern in urls(self)]
        return extra + super().get_urls()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Order], search_term: str
    ) -> tuple[QuerySet[Order], bool]:
        """An order number through the unique index; else the orders of the customers with
        that e-mail (exact, any case) or a name containing it. Never a LIKE across the join."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_number = queryset.filter(number__in=order_number_candidates(term))
        if by_number.exists():
            return by_number, False
        if term.isascii() and term.isdigit() and len(term) <= 20:
            # A storefront's order id, through the (source, external_id) unique index.
            by_external = queryset.filter(source__in=list(specs(STOREFRONTS)), external_id=term)
            if by_external.exists():
                return by_external, False
        if "@" in term:
            customers = ids_matching(Customer.objects.filter(Exact(Lower("email"), term.lower())))
            return queryset.filter(customer_id__in=customers), False
        # Every customer with that name (a subquery, not a capped id list).
        named = Customer.objects.filter(name__icontains=term).order_by().values("pk")
        return queryset.filter(customer_id__in=named), False

    @admin.display(description="Latest payment")
    def latest_payment(self, obj: Order) -> str:
        """The status of the order's newest payment and, when it failed or expired, why (the
        provider's reason), so support sees why an order is still unpaid."""
        payment = obj.payments.order_by("-created_at", "-id").first()
        if payment is None:
            return "-"
        reason = f": {payment.failure_reason}" if payment.failure_reason else ""
        return format_html(
            '<a href="{}">{} via {}</a>{}',
            payment.get_absolute_url(),
            payment.get_status_display(),
            payment.provider,
            reason,
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The order as the hub: its address, what hangs off it (``orders.hub``) and its
        timeline, newest recorded first; links only to pages the user may open."""
        extra_context = dict(extra_context or {})
        order = (
            Order.objects.select_related("customer").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if order is not None and self.has_view_or_change_permission(request, order):
            extra_context.update(
                hub_order=order,
                hub_sections=order_hub(order=order, user=request.user),
                hub_timeline=entries_visible_to(request.user, order_timeline(order=order)),
                hub_customer_url=(
                    reverse("admin:accounts_customer_change", args=[order.customer_id])
                    if request.user.has_perm("accounts.view_customer")
                    else None
                ),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_place_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.add_order")

    @admin.action(description="Place again (same customer and lines)", permissions=["place"])
    def place_again(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        """Support re-places an order (lost parcel, failed payment): a new order, same lines."""
        actor = request.user if isinstance(request.user, User) else None
        placed = []
        for order in queryset.select_related("customer").prefetch_related("lines"):
            placed.append(order_place_again(order=order, actor=actor).number)
        self.message_user(request, f"Placed {', '.join(placed)}.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders come from the product and the API, through order_place

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
