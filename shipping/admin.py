from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from accounts.models import User
from integrations.admin_utils import (
    DefaultValueFilter,
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    OrderLinkAdminMixin,
    ReadOnlyAdminMixin,
    ids_matching,
    money_column,
    order_number_candidates,
    provider_names,
    signed_in_user,
    static_choices_filter,
)
from integrations.forms import MoneyField
from orders.admin import ORDER_PAGE_URLS
from orders.models import Order
from shipping.admin_views import order_shipping_urls
from shipping.alerts import shipment_alert_handle
from shipping.exceptions import ShipmentAlertNotAllowed
from shipping.models import Shipment, ShipmentAlert, TableRate, TrackingEvent
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
    "promised_delivery_on",  # from the carrier's quote, when the shipment was opened
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


# Delay and exception alerts: the ops list -------------------------------------------------------


class ShipmentAlertOpenFilter(DefaultValueFilter):
    """Alerts that need attention unless asked otherwise: the list ops still has to work."""

    default = ShipmentAlert.Status.OPEN
    statuses = ShipmentAlert.Status.choices


@admin.register(ShipmentAlert)
class ShipmentAlertAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shipments flagged late (no scan for days, past the promised date) or in trouble at the
    carrier (delivery failed, returned, lost), once per reason by the hourly scan
    (``shipping.alerts``). Ops mark them handled here: a button on the page, or the action."""

    list_display = (
        "raised_at",
        "shipment",
        "order_number",
        "customer",
        "reason",
        "detail",
        "status",
        "customer_notified",
        "handled_by",
    )
    list_filter = (ShipmentAlertOpenFilter, "reason")
    search_fields = ("shipment__tracking_code__exact",)
    search_help_text = "Tracking code (exact)."
    # Read by prefetching (below), not joined: a join lets the planner walk the shipments
    # table instead of this list's index.
    list_select_related = ()
    fields = (
        "shipment",
        "order_number",
        "customer",
        "reason",
        "detail",
        "status",
        "customer_notified",
        "raised_at",
        "handled_at",
        "handled_by",
        "handling_note",
    )
    readonly_fields = fields
    ordering = ("-raised_at", "-id")
    actions = ["handle_selected"]
    change_form_template = "admin/shipping/shipmentalert/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShipmentAlert]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("shipment__order__customer", "handled_by")
        )

    @admin.display(description="Order")
    def order_number(self, obj: ShipmentAlert) -> str:
        return obj.shipment.order.number

    @admin.display(description="Customer")
    def customer(self, obj: ShipmentAlert) -> str:
        return str(obj.shipment.order.customer)

    def has_handle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shipping.change_shipmentalert")

    @admin.action(description="Mark selected handled", permissions=["handle"])
    def handle_selected(self, request: HttpRequest, queryset: QuerySet[ShipmentAlert]) -> None:
        user = signed_in_user(request, User)
        handled = 0
        for alert in queryset.filter(status=ShipmentAlert.Status.OPEN):
            try:
                shipment_alert_handle(alert=alert, user=user)
            except ShipmentAlertNotAllowed as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                handled += 1
        self.message_user(request, f"Marked {handled} alert(s) handled.", messages.SUCCESS)

    # The "Mark handled" button on the change page --------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:alert_id>/handle/",
                self.admin_site.admin_view(require_POST(self.handle_view)),
                name="shipping_shipmentalert_handle",
            ),
        ]
        return custom + super().get_urls()

    def handle_view(self, request: HttpRequest, alert_id: int) -> HttpResponse:
        """Mark one alert handled through the service, with the note typed next to the button,
        and go back to its page saying how it went."""
        if not self.has_handle_permission(request):
            raise PermissionDenied("Your role cannot handle shipment alerts.")
        alert = get_object_or_404(ShipmentAlert, pk=alert_id)
        user = signed_in_user(request, User)
        try:
            shipment_alert_handle(alert=alert, user=user, note=request.POST.get("note", ""))
        except ShipmentAlertNotAllowed as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"{alert} marked handled.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:shipping_shipmentalert_change", args=[alert.pk]))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        status = (
            ShipmentAlert.objects.filter(pk=object_id).values_list("status", flat=True).first()
            if object_id.isdigit()
            else None
        )
        can_handle = status == ShipmentAlert.Status.OPEN and self.has_handle_permission(request)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), "can_handle": can_handle}
        )


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
