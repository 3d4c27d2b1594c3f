"""Finance's refund queue: pending requests first, approve and reject through the services.

The decision rules (who may decide, how many approvals, re-authentication) are in
``payments.refunds``; the writes in ``payments.services``. Registered by ``payments.admin``,
which imports this module."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.access.reauth import reauth_required_redirect, reauth_stamp
from accounts.customers.selectors import customer_timeline, timeline_page_visible_to
from accounts.models import User
from integrations.admin_utils import (
    COLUMNS_CSS,
    DefaultValueFilter,
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    OrderLinkAdminMixin,
    ReadOnlyAdminMixin,
    confirm_with_form,
    cut_text,
    ids_matching,
    money_column,
    order_number_candidates,
    short_age,
    signed_in_user,
)
from integrations.exceptions import SwitchboardError
from orders.models import Order
from payments.models import Payment, Refund, RefundApproval, RefundStatus
from payments.refunds import (
    refund_approvals_needed,
    refund_decision_options,
    refund_may_decide,
    refunds_awaiting_reauth,
)
from payments.selectors import refunds_awaiting_decision_by
from payments.services import refund_approve, refund_reject

TIMELINE_ON_REFUND = 10


class RefundInline(MoneyFieldsAdminMixin, admin.TabularInline):
    model = Refund
    extra = 0
    fields = ("amount", "currency", "status", "reason", "requested_by", "decided_by", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    refund_amount = money_column("amount", "currency", "Amount")
    money_fields = {"amount": "refund_amount"}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RejectForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Told to the requester and kept on the customer's timeline.",
    )

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Rejecting a refund needs a reason.")
        return reason


class RefundQueueFilter(DefaultValueFilter):
    """Pending requests unless asked otherwise: finance's queue."""

    default = RefundStatus.REQUESTED
    statuses = RefundStatus.choices


class NeedsMyApprovalFilter(admin.SimpleListFilter):
    """Finance's own queue: requests the signed-in user may decide now (not their own, not
    already approved by them; ``refunds_awaiting_decision_by``), whatever the status filter."""

    title = "my queue"
    parameter_name = "mine"
    NEEDS_MY_APPROVAL = "needs_approval"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.NEEDS_MY_APPROVAL, "Needs my approval")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Refund]) -> QuerySet[Refund]:
        if self.value() != self.NEEDS_MY_APPROVAL:
            return queryset
        return refunds_awaiting_decision_by(user=signed_in_user(request, User), refunds=queryset)


@admin.register(Refund)
class RefundAdmin(
    OrderLinkAdminMixin,
    MoneyFieldsAdminMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    """Finance's refund queue: pending requests first, approve and reject through the services."""

    order_path = "payment__order"

    # The status first after the id, long names cut (whole in the tooltip): it stays in
    # sight in a 1366 px window.
    list_display = (
        "id",
        "status",
        "refund_amount",
        "customer",
        "order",
        "reason",
        "requester",
        "age",
        "approvals_so_far",
    )
    list_filter = (NeedsMyApprovalFilter, RefundQueueFilter, "reason")
    search_fields = ("provider_refund_id__exact",)
    search_help_text = "Provider refund or payment id, or order number (exact)."
    list_select_related = ("payment__order__customer", "requested_by")
    ordering = ("created_at", "id")
    actions = ["approve_selected", "reject_selected"]
    change_form_template = "admin/payments/refund/change_form.html"
    refund_amount = money_column("amount", "currency", "Amount")
    money_fields = {"amount": "refund_amount"}

    class Media:
        css = {"all": (COLUMNS_CSS,)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        # A correlated count, computed for the rows shown; a JOIN ... GROUP BY would group
        # every refund the filter selects before the page is cut.
        approvals = (
            RefundApproval.objects.filter(refund=OuterRef("pk"))
            .order_by()
            .values("refund")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(approval_count=Coalesce(Subquery(approvals, output_field=IntegerField()), 0))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Refund], search_term: str
    ) -> tuple[QuerySet[Refund], bool]:
        """Provider refund id, provider payment id or order number, each exact: the payments
        are read first through their indexes, then the refunds by ``payment_id``."""
        term = search_term.strip()
        if not term:
            return queryset, False
        orders = ids_matching(Order.objects.filter(number__in=order_number_candidates(term)))
        payments = ids_matching(
            Payment.objects.filter(Q(provider_payment_id=term) | Q(order_id__in=orders))
        )
        return queryset.filter(Q(provider_refund_id=term) | Q(payment_id__in=payments)), False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return refund_may_decide(user=request.user)

    @admin.display(description="Customer", ordering="payment__order__customer__name")
    def customer(self, obj: Refund) -> str:
        return cut_text(obj.payment.order.customer)

    @admin.display(description="Requested by", ordering="requested_by__username")
    def requester(self, obj: Refund) -> str:
        return cut_text(obj.requested_by, narrow=True)

    @admin.display(description="Order", ordering="payment__order__number")
    def order(self, obj: Refund) -> str:
        return obj.payment.order.number

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj: Refund) -> str:
        return short_age(timezone.now() - obj.created_at)

    @admin.display(description="Approvals")
    def approvals_so_far(self, obj: Refund) -> str:
        given = getattr(obj, "approval_count", None)
        if given is None:
            given = obj.approvals.count()
        return f"{given} of {refund_approvals_needed(refund=obj)}"

    # Actions ---------------------------------------------------------------------------------

    @admin.action(description="Approve selected refund requests", permissions=["approve"])
    def approve_selected(
        self, request: HttpRequest, queryset: QuerySet[Refund]
    ) -> HttpResponse | None:
        if self._needs_reauth(request, *queryset):
            return reauth_required_redirect(request, request.get_full_path())
        done = sum(1 for refund in queryset if self._approve(request, refund))
        if done:
            self.message_user(request, f"Approved {done} refund request(s).", messages.SUCCESS)
        return None

    @admin.action(description="Reject selected refund requests…", permissions=["approve"])
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Refund]
    ) -> HttpResponse | None:
        return confirm_with_form(
            self,
            request,
            form_class=RejectForm,
            rows=("refunds", list(queryset.select_related("payment__order"))),
            action="reject_selected",
            title="Reject refund requests",
            template="admin/payments/refund/reject.html",
            apply=lambda refund, data: self._reject(request, refund, data["reason"]),
            done_message="Rejected {n} refund request(s).",
        )

    def _needs_reauth(self, request: HttpRequest, *refunds: Refund) -> bool:
        """Whether the service would refuse an approval of ``refunds`` for want of a fresh
        re-authentication; if so, say so (the caller then approves nothing)."""
        if not refunds_awaiting_reauth(refunds=refunds, reauthenticated_at=reauth_stamp(request)):
            return False
        self.message_user(
            request,
            "Approving a refund above the dual-approval threshold needs you to confirm who you "
            "are first; nothing was approved.",
            messages.WARNING,
        )
        return True

    def _approve(self, request: HttpRequest, refund: Refund) -> bool:
        try:
            refund = refund_approve(
                refund=refund,
                approver=signed_in_user(request, User),
                reauthenticated_at=reauth_stamp(request),
            )
        except SwitchboardError as exc:
            self.message_user(request, f"{refund}: {exc}", level=messages.ERROR)
            return False
        if refund.status == RefundStatus.REQUESTED:
            self.message_user(
                request,
                f"{refund}: your approval is recorded; it needs a second finance user's.",
                messages.INFO,
            )
        return True

    def _reject(self, request: HttpRequest, refund: Refund, reason: str) -> bool:
        try:
            refund_reject(refund=refund, approver=signed_in_user(request, User), reason=reason)
        except SwitchboardError as exc:
            self.message_user(request, f"{refund}: {exc}", level=messages.ERROR)
            return False
        return True

    # Buttons on the change page ------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:refund_id>/approve/",
                self.admin_site.admin_view(require_POST(self.approve_view)),
                name="payments_refund_approve",
            ),
            path(
                "<int:refund_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="payments_refund_reject",
            ),
        ]
        return custom + super().get_urls()

    def _decidable(self, request: HttpRequest, refund_id: int) -> Refund:
        if not self.has_approve_permission(request):
            raise PermissionDenied("Your role cannot approve or reject refunds.")
        return get_object_or_404(Refund, pk=refund_id)

    def approve_view(self, request: HttpRequest, refund_id: int) -> HttpResponse:
        refund = self._decidable(request, refund_id)
        change_url = reverse("admin:payments_refund_change", args=[refund.pk])
        if self._needs_reauth(request, refund):  # back on the page, the approval one click away
            return reauth_required_redirect(request, f"{change_url}?approve=resume")
        if self._approve(request, refund):
            refund.refresh_from_db()
            if refund.status != RefundStatus.REQUESTED:  # approved, or already on its way
                self.message_user(request, f"{refund} approved.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    def reject_view(self, request: HttpRequest, refund_id: int) -> HttpResponse:
        refund = self._decidable(request, refund_id)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if self._reject(request, refund, form.cleaned_data["reason"]):
                self.message_user(request, f"{refund} rejected.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:payments_refund_change", args=[refund.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reject {refund}",
            "opts": self.opts,
            "refunds": [refund],
            "form": form,
            "single": True,
        }
        return TemplateResponse(request, "admin/payments/refund/reject.html", context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        refund = (
            Refund.objects.select_related("payment__order__customer").filter(pk=object_id).first()
            if object_id.isdigit()
            else None
        )
        if refund is not None:
            customer = refund.payment.order.customer
            approvals = list(refund.approvals.select_related("approver"))
            options = refund_decision_options(refund=refund, user=request.user, approvals=approvals)
            extra_context.update(
                refund_customer=customer,
                timeline=timeline_page_visible_to(
                    request.user, customer_timeline(customer=customer, limit=TIMELINE_ON_REFUND)
                ),
                approvals=approvals,
                approvals_needed=refund_approvals_needed(refund=refund),
                can_approve=options.can_approve,
                can_reject=options.can_reject,
                decision_note=options.note,
            )
        return super().change_view(request, object_id, form_url, extra_context)
