"""Payments, disputes and the reconciliation list in the admin; the refund queue is in
``payments.admin_refunds`` (imported here, so it is registered with the rest)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.models import User
from integrations.admin_utils import (
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
from integrations.exceptions import SwitchboardError
from integrations.forms import MoneyField
from integrations.money import currency_symbol, format_amount, format_money
from orders.models import Order
from payments.admin_reconciliation import ReconciliationExceptionAdmin
from payments.admin_refunds import RefundInline
from payments.evidence import admin as evidence_admin  # noqa: F401 (registers its admins)
from payments.evidence.admin import SUBMIT_PERMISSION
from payments.evidence.models import DisputeEvidence, EvidenceStatus
from payments.evidence.workflows import dispute_evidence_submit
from payments.exceptions import EvidenceNotAllowed
from payments.models import (
    Dispute,
    DisputeStatus,
    Payment,
    ReconciliationException,
    RefundReason,
)
from payments.selectors import payment_refundable_amount
from payments.services import refund_request
from payments.settlements import admin as settlements_admin  # noqa: F401 (registers its admins)

PaymentProviderFilter = static_choices_filter("provider", "provider", provider_names("payments"))


def orders_numbered(term: str) -> list[int]:
    """Ids of the orders with this number (as typed or upper-cased), read through the unique
    index first, so a search filters by ``order_id__in`` instead of joining the orders."""
    return ids_matching(Order.objects.filter(number__in=order_number_candidates(term)))


class RefundRequestForm(forms.Form):
    """The amount is typed in major units of the payment's currency ("10,00" or "10.00" is
    R$ 10,00); it starts at what is still refundable."""

    amount = MoneyField(
        currency="BRL",
        required=False,
        min_value=1,
        help_text="In reais or the payment's currency, e.g. 10,00. Empty: everything still "
        "refundable.",
    )
    reason = forms.ChoiceField(choices=RefundReason.choices)
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        amount = self.fields["amount"]
        assert isinstance(amount, MoneyField)
        amount.set_currency(currency)
        amount.help_text = (
            f"In {currency}, e.g. {format_amount(1000, currency)}. "
            "Empty: everything still refundable."
        )


@admin.register(Payment)
class PaymentAdmin(
    OrderLinkAdminMixin,
    MoneyFieldsAdminMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
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
    list_filter = ("status", PaymentProviderFilter, "method")
    search_fields = ("provider_payment_id__exact",)
    search_help_text = "Provider payment id or order number (exact)."
    list_select_related = ("order",)
    inlines = [RefundInline]
    change_form_template = "admin/payments/payment/change_form.html"
    total = money_column("amount", "currency", "Amount")
    refunded = money_column("amount_refunded", "currency", "Amount refunded")
    fee = money_column("fee_amount", "settlement_currency", "Provider fee")
    net = money_column("net_amount", "settlement_currency", "Net")
    authorized = money_column("amount_authorized", "currency", "Amount authorised")
    captured = money_column("amount_captured", "currency", "Amount captured")
    money_fields = {
        "amount": "total",
        "amount_refunded": "refunded",
        "fee_amount": "fee",
        "net_amount": "net",
        "amount_authorized": "authorized",
        "amount_captured": "captured",
    }

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Payment], search_term: str
    ) -> tuple[QuerySet[Payment], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(
            Q(provider_payment_id=term) | Q(order_id__in=orders_numbered(term))
        ), False

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
        refundable = payment_refundable_amount(payment=payment)
        form = RefundRequestForm(
            request.POST or None, currency=payment.currency, initial={"amount": refundable}
        )
        if request.method == "POST" and form.is_valid():
            try:
                refund = refund_request(
                    payment=payment,
                    requested_by=signed_in_user(request, User),
                    reason=form.cleaned_data["reason"],
                    amount=form.cleaned_data["amount"],
                    note=form.cleaned_data["note"],
                )
            except SwitchboardError as exc:
                form.add_error(None, str(exc))
            else:
                money = format_money(refund.amount, refund.currency)
                messages.success(
                    request,
                    f"Refund of {money} requested ({refund}); finance will decide on it.",
                )
                return HttpResponseRedirect(
                    reverse("admin:payments_refund_change", args=[refund.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Request a refund of {payment}",
            "opts": self.opts,
            "payment": payment,
            "paid": format_money(payment.amount, payment.currency),
            "refundable": format_money(refundable, payment.currency),
            "currency_symbol": currency_symbol(payment.currency),
            "form": form,
        }
        return TemplateResponse(request, "admin/payments/payment/request_refund.html", context)


@admin.register(Dispute)
class DisputeAdmin(
    OrderLinkAdminMixin,
    MoneyFieldsAdminMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    order_path = "payment__order"
    list_display = (
        "provider_dispute_id",
        "status",
        "dispute_amount",
        "reason",
        "evidence_due_by",
        "order_link",
        "opened_at",
    )
    list_filter = ("status", PaymentProviderFilter)
    search_fields = ("provider_dispute_id__exact",)
    search_help_text = "Provider dispute id or order number (exact)."
    list_select_related = ("payment__order",)
    change_form_template = "admin/payments/dispute/change_form.html"
    dispute_amount = money_column("amount", "currency", "Amount")
    dispute_fee = money_column("fee_amount", "fee_currency", "Provider's dispute fee")
    money_fields = {"amount": "dispute_amount", "fee_amount": "dispute_fee"}

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Dispute], search_term: str
    ) -> tuple[QuerySet[Dispute], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        payments = ids_matching(Payment.objects.filter(order_id__in=orders_numbered(term)))
        return queryset.filter(Q(provider_dispute_id=term) | Q(payment_id__in=payments)), False

    @admin.display(description="Order", ordering="payment__order__number")
    def order_link(self, obj: Dispute) -> str:
        order = obj.payment.order
        flag = " ⚑ flagged" if order.is_flagged else ""
        return format_html('<a href="{}">{}</a>{}', order.get_absolute_url(), order.number, flag)

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:dispute_id>/evidence/",
                self.admin_site.admin_view(self.evidence_view),
                name="payments_dispute_evidence",
            ),
            path(
                "<int:dispute_id>/submit-evidence/",
                self.admin_site.admin_view(self.submit_evidence_view),
                name="payments_dispute_submit_evidence",
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
        dispute = Dispute.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        evidence = (
            DisputeEvidence.objects.filter(dispute=dispute).select_related("submitted_by").first()
            if dispute is not None
            else None
        )
        user = request.user
        extra_context = {
            **(extra_context or {}),
            "evidence": evidence,
            "evidence_documents": list(evidence.documents.all()) if evidence else [],
            "evidence_fields": len(evidence.text_fields()) if evidence else 0,
            "can_assemble_evidence": user.has_perm("payments.change_disputeevidence")
            or user.has_perm("payments.add_disputeevidence"),
            "can_submit_evidence": bool(
                dispute is not None
                and evidence is not None
                and evidence.status in (EvidenceStatus.DRAFT, EvidenceStatus.FAILED)
                and dispute.status == DisputeStatus.NEEDS_RESPONSE
                and user.has_perm(SUBMIT_PERMISSION)
            ),
            "evidence_provider": (dispute.provider.title() if dispute is not None else ""),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def evidence_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        """To this dispute's evidence: its page, or a new one for the dispute."""
        dispute = get_object_or_404(Dispute, pk=dispute_id)
        evidence = DisputeEvidence.objects.filter(dispute=dispute).first()
        if evidence is not None and request.user.has_perm("payments.view_disputeevidence"):
            return HttpResponseRedirect(
                reverse("admin:payments_disputeevidence_change", args=[evidence.pk])
            )
        if evidence is None and request.user.has_perm("payments.add_disputeevidence"):
            url = reverse("admin:payments_disputeevidence_add")
            return HttpResponseRedirect(f"{url}?{urlencode({'dispute': dispute.pk})}")
        raise PermissionDenied("Your role cannot assemble dispute evidence.")

    def submit_evidence_view(self, request: HttpRequest, dispute_id: int) -> HttpResponse:
        """POST: send the dispute's evidence to its provider (``dispute_evidence_submit``)."""
        if not request.user.has_perm(SUBMIT_PERMISSION):
            raise PermissionDenied("Your role cannot submit dispute evidence.")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        dispute = get_object_or_404(Dispute, pk=dispute_id)
        back = HttpResponseRedirect(dispute.get_absolute_url() + "#evidence")
        evidence = DisputeEvidence.objects.filter(dispute=dispute).first()
        if evidence is None:
            messages.error(request, "There is no evidence to submit yet: assemble it first.")
            return back
        try:
            evidence = dispute_evidence_submit(
                evidence_id=evidence.pk, user=signed_in_user(request, User)
            )
        except EvidenceNotAllowed as exc:
            messages.error(request, str(exc))
            return back
        if evidence.status == EvidenceStatus.SUBMITTED:
            messages.success(request, f"Evidence submitted to {dispute.provider.title()}.")
        else:
            messages.error(request, f"The evidence was not submitted. {evidence.last_error}")
        return back


admin.site.register(ReconciliationException, ReconciliationExceptionAdmin)
