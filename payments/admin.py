from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from accounts.access.reauth import reauth_is_fresh, reauth_required_redirect
from accounts.customers.selectors import customer_timeline
from accounts.models import User
from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin, money_column
from integrations.exceptions import SwitchboardError
from payments.disputes import reconciliation_resolve
from payments.models import (
    Dispute,
    Payment,
    ReconciliationException,
    Refund,
    RefundReason,
    RefundStatus,
)
from payments.selectors import payment_refundable_amount
from payments.services import refund_approvals_needed, refund_approve, refund_reject, refund_request

APPROVE_PERMISSION = "payments.approve_refund"
TIMELINE_ON_REFUND = 10


def short_age(delta: timedelta) -> str:
    """``3 min``, ``5 h``, ``2 d``: how long a request has waited."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    fields = ("amount", "currency", "status", "reason", "requested_by", "decided_by", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefundRequestForm(forms.Form):
    amount = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Minor units (cents). Empty: everything still refundable.",
    )
    reason = forms.ChoiceField(choices=RefundReason.choices)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


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


def _staff(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied("Sign in first.")
    return request.user


def confirm_with_form(
    modeladmin: admin.ModelAdmin[Any],
    request: HttpRequest,
    *,
    form_class: type[forms.Form],
    rows: tuple[str, list[Any]],
    action: str,
    title: str,
    template: str,
    apply: Callable[[Any, dict[str, Any]], bool],
    done_message: str,
) -> HttpResponse | None:
    """An admin action that asks for a form first (a reason, a note): shows the form page with
    the selected rows; once submitted and valid, applies ``apply`` to each row (which reports
    its own errors and returns whether it did anything) and says how many it did."""
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done = sum(1 for obj in rows[1] if apply(obj, form.cleaned_data))
        if done:
            modeladmin.message_user(request, done_message.format(n=done), messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.opts,
        rows[0]: rows[1],
        "form": form,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "action": action,
    }
    return TemplateResponse(request, template, context)


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
    change_form_template = "admin/payments/payment/change_form.html"
    total = money_column("amount", "currency", "Amount")

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:payment_id>/request-refund/",
                self.admin_site.admin_view(self.request_refund_view),
                name="payments_payment_request_refund",
            ),
        ]
        return custom + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_request_refund": request.user.has_perm("payments.add_refund"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def request_refund_view(self, request: HttpRequest, payment_id: int) -> HttpResponse:
        """Support and finance ask for a refund; finance then approves it in the refund queue."""
        if not request.user.has_perm("payments.add_refund"):
            raise PermissionDenied("Your role cannot request refunds.")
        payment = get_object_or_404(Payment.objects.select_related("order"), pk=payment_id)
        form = RefundRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                refund = refund_request(
                    payment=payment,
                    requested_by=_staff(request),
                    reason=form.cleaned_data["reason"],
                    amount=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                )
            except SwitchboardError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{refund} requested; finance will decide on it.")
                return HttpResponseRedirect(
                    reverse("admin:payments_refund_change", args=[refund.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Request a refund of {payment}",
            "opts": self.opts,
            "payment": payment,
            "refundable": payment_refundable_amount(payment=payment),
            "form": form,
        }
        return TemplateResponse(request, "admin/payments/payment/request_refund.html", context)


class DefaultValueFilter(admin.SimpleListFilter):
    """A status filter whose unfiltered state is ``default`` (the work still to do); "All" is an
    explicit choice."""

    title = "status"
    parameter_name = "status"
    default = ""
    statuses: list[tuple[str, str]] = []
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*self.statuses, (self.ALL, "All")]

    def value(self) -> str:
        return super().value() or self.default

    def choices(self, changelist: ChangeList) -> Iterator[Any]:
        current = self.value()
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset if value == self.ALL else queryset.filter(status=value)


class RefundQueueFilter(DefaultValueFilter):
    """Pending requests unless asked otherwise: finance's queue."""

    default = RefundStatus.REQUESTED
    statuses = RefundStatus.choices


@admin.register(Refund)
class RefundAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Finance's refund queue: pending requests first, approve and reject through the services."""

    list_display = (
        "id",
        "refund_amount",
        "customer",
        "order",
        "reason",
        "requested_by",
        "age",
        "approvals_so_far",
        "status",
    )
    list_filter = (RefundQueueFilter, "reason")
    search_fields = (
        "provider_refund_id__exact",
        "payment__provider_payment_id__exact",
        "payment__order__number__exact",
    )
    search_help_text = "Provider refund or payment id, or order number (exact)."
    list_select_related = ("payment__order__customer", "requested_by")
    ordering = ("created_at", "id")
    actions = ["approve_selected", "reject_selected"]
    change_form_template = "admin/payments/refund/change_form.html"
    refund_amount = money_column("amount", "currency", "Amount")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        return super().get_queryset(request).annotate(approval_count=Count("approvals"))

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    @admin.display(description="Customer", ordering="payment__order__customer__name")
    def customer(self, obj: Refund) -> str:
        return str(obj.payment.order.customer)

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
        approver = _staff(request)
        if self._needs_reauth(request, *queryset):
            return reauth_required_redirect(request, request.get_full_path())
        done = 0
        for refund in queryset:
            if self._approve(request, refund, approver):
                done += 1
        if done:
            self.message_user(request, f"Approved {done} refund request(s).", messages.SUCCESS)
        return None

    @admin.action(description="Reject selected refund requests…", permissions=["approve"])
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Refund]
    ) -> HttpResponse | None:
        approver = _staff(request)
        return confirm_with_form(
            self,
            request,
            form_class=RejectForm,
            rows=("refunds", list(queryset.select_related("payment__order"))),
            action="reject_selected",
            title="Reject refund requests",
            template="admin/payments/refund/reject.html",
            apply=lambda refund, data: self._reject(request, refund, approver, data["reason"]),
            done_message="Rejected {n} refund request(s).",
        )

    def _needs_reauth(self, request: HttpRequest, *refunds: Refund) -> bool:
        """Approving above the dual-approval threshold needs a recent password or SSO login;
        if it is missing, say so (the caller then approves nothing)."""
        if reauth_is_fresh(request) or not any(
            refund_approvals_needed(refund=r) > 1 for r in refunds
        ):
            return False
        self.message_user(
            request,
            "Approving a refund above the dual-approval threshold needs you to confirm who you "
            "are first; nothing was approved.",
            messages.WARNING,
        )
        return True

    def _approve(self, request: HttpRequest, refund: Refund, approver: User) -> bool:
        try:
            refund = refund_approve(refund=refund, approver=approver)
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

    def _reject(self, request: HttpRequest, refund: Refund, approver: User, reason: str) -> bool:
        try:
            refund_reject(refund=refund, approver=approver, reason=reason)
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
        if self._approve(request, refund, _staff(request)):
            refund.refresh_from_db()
            if refund.status != RefundStatus.REQUESTED:  # approved, or already on its way
                self.message_user(request, f"{refund} approved.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:payments_refund_change", args=[refund.pk]))

    def reject_view(self, request: HttpRequest, refund_id: int) -> HttpResponse:
        refund = self._decidable(request, refund_id)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if self._reject(request, refund, _staff(request), form.cleaned_data["reason"]):
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
            may_decide = (
                self.has_approve_permission(request) and refund.status == RefundStatus.REQUESTED
            )
            own = refund.requested_by_id == request.user.pk
            approved_already = any(a.approver_id == request.user.pk for a in approvals)
            note = ""
            if may_decide and own:
                note = "Your own request: another finance user decides on it."
            elif may_decide and approved_already:
                note = "You approved it; it waits for a second finance user."
            extra_context.update(
                refund_customer=customer,
                timeline=customer_timeline(customer=customer, limit=TIMELINE_ON_REFUND),
                approvals=approvals,
                approvals_needed=refund_approvals_needed(refund=refund),
                can_approve=may_decide and not own and not approved_already,
                can_reject=may_decide and not own,
                decision_note=note,
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Dispute)
class DisputeAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "provider_dispute_id",
        "status",
        "dispute_amount",
        "reason",
        "evidence_due_by",
        "order_link",
        "opened_at",
    )
    list_filter = ("status", "provider")
    search_fields = ("provider_dispute_id__exact", "payment__order__number__exact")
    search_help_text = "Provider dispute id or order number (exact)."
    list_select_related = ("payment__order",)
    dispute_amount = money_column("amount", "currency", "Amount")

    @admin.display(description="Order", ordering="payment__order__number")
    def order_link(self, obj: Dispute) -> str:
        order = obj.payment.order
        flag = " ⚑ flagged" if order.is_flagged else ""
        return format_html('<a href="{}">{}</a>{}', order.get_absolute_url(), order.number, flag)


class ReconciliationOpenFilter(DefaultValueFilter):
    """Open exceptions unless asked otherwise: the list finance still has to work."""

    default = ReconciliationException.Status.OPEN
    statuses = ReconciliationException.Status.choices


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What was found and done."
    )

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("Resolving needs a note.")
        return note


@admin.register(ReconciliationException)
class ReconciliationExceptionAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "provider",
        "payment",
        "provider_object_id",
        "short_detail",
        "status",
        "created_at",
        "resolved_by",
    )
    list_filter = (ReconciliationOpenFilter, "kind", "provider")
    search_fields = ("provider_object_id__exact",)
    list_select_related = ("payment", "resolved_by")
    actions = ["resolve_selected"]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.change_reconciliationexception")

    @admin.display(description="Detail")
    def short_detail(self, obj: ReconciliationException) -> str:
        return obj.detail[:80]

    @admin.action(description="Mark resolved…", permissions=["resolve"])
    def resolve_selected(
        self, request: HttpRequest, queryset: QuerySet[ReconciliationException]
    ) -> HttpResponse | None:
        user = _staff(request)

        def resolve(exception: ReconciliationException, data: dict[str, Any]) -> bool:
            try:
                reconciliation_resolve(exception=exception, user=user, note=data["note"])
            except SwitchboardError as exc:
                self.message_user(request, f"#{exception.pk}: {exc}", level=messages.ERROR)
                return False
            return True

        return confirm_with_form(
            self,
            request,
            form_class=ResolveForm,
            rows=("exceptions", list(queryset)),
            action="resolve_selected",
            title="Resolve reconciliation exceptions",
            template="admin/payments/reconciliationexception/resolve.html",
            apply=resolve,
            done_message="Resolved {n} exception(s).",
        )
