"""Settlement lines and payouts (read-only lists) and CSV column mappings with their statement
upload, in the admin. Finance sees them; the other roles do not (accounts/access/roles.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
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
from payments.exceptions import SettlementCsvInvalid
from payments.settlements.csv_import import settlement_csv_import
from payments.settlements.models import CsvColumnMapping, Payout, SettlementLine

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
