"""The journal in the admin (finance and admin only): entries with their lines (read-only),
periods with their "close" action, and the export page (generic CSV, Xero, QuickBooks)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from accounting.exceptions import JournalExportRefused, PeriodClosed
from accounting.exports import FORMAT_CHOICES, journal_export
from accounting.models import AccountingPeriod, JournalEntry, JournalLine
from accounting.services import accounting_period_close
from integrations.admin_utils import LargeTableAdminMixin, ReadOnlyAdminMixin, money_column
from integrations.money import format_money

EXPORT_PERMISSION = "accounting.export_journal"
CLOSE_PERMISSION = "accounting.close_accountingperiod"


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    fields = ("account_code", "account_name", "line_debit", "line_credit", "memo")
    readonly_fields = fields
    can_delete = False
    extra = 0
    line_debit = money_column("debit", "entry__currency", "Debit")
    line_credit = money_column("credit", "entry__currency", "Credit")

    def get_queryset(self, request: HttpRequest) -> QuerySet[JournalLine]:
        return super().get_queryset(request).select_related("entry")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The lines are part of the entry: whoever may see entries sees them.
        return request.user.has_perm("accounting.view_journalentry")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AccountFilter(admin.SimpleListFilter):
    """Entries with a line on one account of the chart (settings ACCOUNTING_ACCOUNTS)."""

    title = "account"
    parameter_name = "account"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (str(account["code"]), f"{account['code']} {account['name']}")
            for account in settings.ACCOUNTING_ACCOUNTS.values()
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        return queryset.filter(
            Exists(JournalLine.objects.filter(entry=OuterRef("pk"), account_code=self.value()))
        )


@admin.register(JournalEntry)
class JournalEntryAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "entry_date",
        "period",
        "source_kind",
        "source_key",
        "memo",
        "entry_total",
        "late_for",
    )
    list_filter = ("period", "source_kind", AccountFilter)
    search_fields = ("source_key__exact", "provider_ref__exact")
    search_help_text = "Source key (a payment's id, stripe:po_...) or provider id (exact)."
    list_select_related = ("period", "late_for")
    inlines = [JournalLineInline]
    actions = None
    fields = (
        "entry_date",
        "occurred_at",
        "period",
        "late_for",
        "source_kind",
        "source_key",
        "provider",
        "provider_ref",
        "currency",
        "memo",
        "reverses",
        "posted",
        "created_at",
    )
    change_list_template = "admin/accounting/journalentry/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[JournalEntry]:
        return super().get_queryset(request).annotate(total=Sum("lines__debit"))

    @admin.display(description="Amount (debits)", ordering="total")
    def entry_total(self, entry: Any) -> str:
        return format_money(int(entry.total or 0), entry.currency)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="accounting_journalentry_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_export": request.user.has_perm(EXPORT_PERMISSION)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """Finance picks a format and a range of periods; the file downloads (and is audited)."""
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied("Your role cannot export the journal.")
        form = JournalExportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                exported = journal_export(
                    fmt=form.cleaned_data["format"],
                    period_from=form.cleaned_data["period_from"].month,
                    period_to=form.cleaned_data["period_to"].month,
                    actor=request.user,
                    request=request,
                )
            except JournalExportRefused as exc:
                form.add_error(None, str(exc))
            else:
                response = HttpResponse(exported.content, content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
                return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "form": form,
            "title": "Export the journal",
        }
        return TemplateResponse(request, "admin/accounting/journal_export.html", context)


class JournalExportForm(forms.Form):
    format = forms.ChoiceField(choices=FORMAT_CHOICES)
    period_from = forms.ModelChoiceField(
        queryset=AccountingPeriod.objects.order_by("-month"), label="From period"
    )
    period_to = forms.ModelChoiceField(
        queryset=AccountingPeriod.objects.order_by("-month"), label="To period"
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_from"), data.get("period_to")
        if start and end and end.month < start.month:
            raise forms.ValidationError("The last period comes before the first.")
        return data


@admin.register(AccountingPeriod)
class AccountingPeriodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("label", "status", "closed_by", "closed_at", "entry_count")
    list_filter = ("status",)
    fields = ("month", "status", "closed_by", "closed_at")
    actions = ["close_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccountingPeriod]:
        from django.db.models import Count

        return (
            super()
            .get_queryset(request)
            .select_related("closed_by")
            .annotate(entries_posted=Count("entries"))
        )

    @admin.display(description="Period", ordering="month")
    def label(self, period: AccountingPeriod) -> str:
        return period.label

    @admin.display(description="Entries", ordering="entries_posted")
    def entry_count(self, period: Any) -> int:
        return int(period.entries_posted)

    def has_close_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CLOSE_PERMISSION)

    @admin.action(description="Close the selected periods", permissions=["close"])
    def close_selected(self, request: HttpRequest, queryset: QuerySet[AccountingPeriod]) -> None:
        for period in queryset.order_by("month"):
            try:
                accounting_period_close(period=period, closed_by=request.user)
            except PeriodClosed as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(
                    request,
                    f"Period {period.label} closed: its entries no longer change; late facts "
                    "post to the next open period.",
                    messages.SUCCESS,
                )
