"""Settlement lines and payouts (read-only lists), CSV column mappings with their statement
upload, matching rules and the matches (read-only), in the admin. Finance sees them; the other roles do not (accounts/access/roles.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from integrations.admin_utils import (
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    ReadOnlyAdminMixin,
    money_column,
)
from integrations.forms import MoneyField
from integrations.money import format_amount, format_money
from payments.exceptions import SettlementCsvInvalid
from payments.settlements.csv_import import settlement_csv_import
from payments.settlements.models import (
    CsvColumnMapping,
    MatchingRule,
    Payout,
    SettlementLine,
    SettlementMatch,
    SettlementMatchItem,
)

UPLOAD_PERMISSION = "payments.add_settlementline"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@admin.register(SettlementLine)
class SettlementLineAdmin(
    MoneyFieldsAdminMixin, LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = (
        "provider_line_id",
        "provider",
        "kind",
        "line_amount",
        "line_fee",
        "line_net",
        "source_id",
        "payout_id",
        "created_at",
    )
    list_filter = ("provider", "kind", "currency")
    search_fields = ("provider_line_id__exact", "source_id__exact", "payout_id__exact")
    search_help_text = "Line id, source id (ch_..., pay_...) or payout id (exact)."
    date_hierarchy = "created_at"
    change_list_template = "admin/payments/settlementline/change_list.html"
    line_amount = money_column("amount", "currency", "Amount")
    line_fee = money_column("fee", "currency", "Fee")
    line_net = money_column("net", "currency", "Net")
    money_fields = {"amount": "line_amount", "fee": "line_fee", "net": "line_net"}

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_upload": request.user.has_perm(UPLOAD_PERMISSION),
        }
        return super().changelist_view(request, extra_context)


@admin.register(Payout)
class PayoutAdmin(
    MoneyFieldsAdminMixin, LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    list_display = (
        "provider_payout_id",
        "provider",
        "payout_amount",
        "status",
        "arrival_date",
        "lines",
        "created_at",
    )
    list_filter = ("provider", "status", "currency")
    search_fields = ("provider_payout_id__exact",)
    search_help_text = "Provider payout id (po_..., an Asaas transfer id), exact."
    payout_amount = money_column("amount", "currency", "Amount")
    money_fields = {"amount": "payout_amount"}

    @admin.display(description="Lines")
    def lines(self, obj: Payout) -> str:
        url = reverse("admin:payments_settlementline_changelist")
        query = urlencode({"payout_id__exact": obj.provider_payout_id, "provider": obj.provider})
        return format_html('<a href="{}?{}">Settlement lines</a>', url, query)


class StatementUploadForm(forms.Form):
    statement = forms.FileField(help_text="A CSV file; the mapping says which column is which.")

    def clean_statement(self) -> Any:
        upload = self.cleaned_data["statement"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 10 MB; split it.")
        return upload


@admin.register(CsvColumnMapping)
class CsvColumnMappingAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "provider",
        "date_column",
        "amount_column",
        "decimal_separator",
        "upload_link",
    )
    search_fields = ("name",)
    change_form_template = "admin/payments/csvcolumnmapping/change_form.html"

    @admin.display(description="Statement")
    def upload_link(self, obj: CsvColumnMapping) -> str:
        url = reverse("admin:payments_csvcolumnmapping_upload", args=[obj.pk])
        return format_html('<a href="{}" class="upload-statement">Upload a statement</a>', url)

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:mapping_id>/upload/",
                self.admin_site.admin_view(self.upload_view),
                name="payments_csvcolumnmapping_upload",
            )
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
            "can_upload": request.user.has_perm(UPLOAD_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def upload_view(self, request: HttpRequest, mapping_id: int) -> HttpResponse:
        """Upload a statement read with this mapping: all rows stored, or none and every bad row
        named."""
        if not request.user.has_perm(UPLOAD_PERMISSION):
            raise PermissionDenied("Your role cannot import settlement statements.")
        mapping = get_object_or_404(CsvColumnMapping, pk=mapping_id)
        form = StatementUploadForm(request.POST or None, request.FILES or None)
        row_errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            try:
                stored = settlement_csv_import(mapping, form.cleaned_data["statement"].read())
            except SettlementCsvInvalid as exc:
                row_errors = exc.errors
            else:
                messages.success(
                    request,
                    f"{stored.created} new settlement lines imported with {mapping.name} "
                    "(lines already stored were left as they were).",
                )
                url = reverse("admin:payments_settlementline_changelist")
                return HttpResponseRedirect(f"{url}?{urlencode({'provider': mapping.provider})}")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Upload a statement read with {mapping.name}",
            "opts": self.opts,
            "mapping": mapping,
            "form": form,
            "row_errors": row_errors,
        }
        return TemplateResponse(request, "admin/payments/csvcolumnmapping/upload.html", context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CsvColumnMapping]:
        return super().get_queryset(request).order_by("name")


# Matching (payments/settlements/engine.py) -------------------------------------------------

# Every currency Switchboard keeps has two decimals, so a tolerance typed as "0,05" is 5 minor
# units of whichever currency the line is in.
TOLERANCE_UNITS = "BRL"


class MatchingRuleForm(forms.ModelForm):
    amount_tolerance = MoneyField(
        currency=TOLERANCE_UNITS,
        min_value=0,
        label="Amount tolerance",
        help_text="How far the line's amount may be from the payment's, in major units of the "
        "line's currency (0,05 is five cents; 0 is exact).",
    )

    class Meta:
        model = MatchingRule
        fields = (
            "name",
            "sequence",
            "active",
            "provider",
            "line_kind",
            "amount_tolerance",
            "date_window_days",
            "reference_must_match",
        )


@admin.register(MatchingRule)
class MatchingRuleAdmin(admin.ModelAdmin):
    """The ordered rules (like Odoo's reconciliation models) the engine's second pass tries, in
    sequence order; a ``statement`` rule pairs bank lines with payouts."""

    form = MatchingRuleForm
    list_display = (
        "sequence",
        "name",
        "active",
        "provider",
        "line_kind",
        "tolerance",
        "date_window_days",
        "reference_must_match",
    )
    list_display_links = ("name",)
    list_filter = ("active",)
    ordering = ("sequence", "id")
    search_fields = ("name",)

    @admin.display(description="Tolerance", ordering="amount_tolerance")
    def tolerance(self, obj: MatchingRule) -> str:
        return format_amount(obj.amount_tolerance, TOLERANCE_UNITS)


class SettlementMatchItemInline(admin.TabularInline):
    model = SettlementMatchItem
    extra = 0
    can_delete = False
    fields = ("what", "amount")
    readonly_fields = ("what", "amount")
    verbose_name_plural = "Items"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Items are read with their match: whoever may read matches reads their items.
        return bool(request.user.has_perm("payments.view_settlementmatch"))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[SettlementMatchItem]:
        return (
            super()
            .get_queryset(request)
            .select_related("line", "payment", "refund", "dispute", "payout")
            .order_by("id")
        )

    @admin.display(description="Item")
    def what(self, item: SettlementMatchItem) -> str:
        return _item_label(item)

    @admin.display(description="Amount")
    def amount(self, item: SettlementMatchItem) -> str:
        target = item.line or item.payment or item.refund or item.dispute or item.payout
        if target is None:
            return "-"
        return format_money(target.amount, target.currency)


def _item_label(item: SettlementMatchItem) -> str:
    if item.line is not None:
        return f"Line {item.line.provider_line_id} ({item.line.get_kind_display()})"
    if item.payment is not None:
        return f"Payment {item.payment.provider_payment_id or item.payment.pk}"
    if item.refund is not None:
        return f"Refund {item.refund.provider_refund_id or item.refund.pk}"
    if item.dispute is not None:
        return f"Dispute {item.dispute.provider_dispute_id}"
    if item.payout is not None:
        return f"Payout {item.payout.provider_payout_id}"
    return "-"


@admin.register(SettlementMatch)
class SettlementMatchAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """What the engine (or finance, by hand) matched: read-only; each match with its items."""

    list_display = ("__str__", "method", "rule", "item_count", "created_at")
    list_filter = ("method", "rule")
    search_fields = ("anchor__exact",)
    search_help_text = "Anchor, exact (payment:12, payout:3, line:9)."
    fields = ("method", "rule", "matched_by", "note", "anchor", "created_at")
    readonly_fields = fields
    inlines = (SettlementMatchItemInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SettlementMatch]:
        return super().get_queryset(request).select_related("rule").annotate(n_items=Count("items"))

    @admin.display(description="Items", ordering="n_items")
    def item_count(self, obj: SettlementMatch) -> int:
        return int(getattr(obj, "n_items", 0))
