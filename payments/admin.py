from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin, money_column
from integrations.exceptions import SwitchboardError
from payments.models import Payment, Refund
from payments.services import refund_approve


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ("amount", "currency", "status", "reason", "requested_by", "decided_by", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "order",
        "provider",
        "provider_payment_id",
        "method",
        "status",
        "total",
        "created_at",
    )
    list_filter = ("status", "provider", "method")
    search_fields = ("provider_payment_id__exact", "order__number__exact")
    search_help_text = "Provider payment id or order number (exact)."
    list_select_related = ("order",)
    inlines = [RefundInline]
    total = money_column("amount", "currency", "Amount")


@admin.register(Refund)
class RefundAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "payment",
        "refund_amount",
        "status",
        "reason",
        "requested_by",
        "created_at",
    )
    list_filter = ("status", "reason")
    search_fields = (
        "provider_refund_id__exact",
        "payment__provider_payment_id__exact",
        "payment__order__number__exact",
    )
    list_select_related = ("payment", "requested_by")
    actions = ["approve_selected"]
    refund_amount = money_column("amount", "currency", "Amount")

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.approve_refund")

    @admin.action(description="Approve selected refund requests", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        assert isinstance(request.user, User)
        approved = 0
        for refund in queryset:
            try:
                refund_approve(refund=refund, approver=request.user)
                approved += 1
            except SwitchboardError as exc:
                self.message_user(request, f"{refund}: {exc}", level=messages.ERROR)
        if approved:
            self.message_user(request, f"Approved {approved} refund request(s).", messages.SUCCESS)
