"""Finance's exception queue in the admin (issue 15 item 4): the list with its filters, age and
totals by kind; a Resolve page per exception; an Approve / reject page for a write-off awaiting a
second finance user. The rules and writes are in ``payments.reconciliation``. Registered by
``payments.admin``, which imports this module."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access.reauth import reauth_is_fresh, reauth_required_redirect, reauth_stamp
from accounts.models import User
from integrations.admin_utils import (
    COLUMNS_CSS,
    DefaultValueFilter,
    LargeTableAdminMixin,
    MoneyFieldsAdminMixin,
    ReadOnlyAdminMixin,
    confirm_with_form,
    cut_text,
    money_column,
    provider_names,
    short_age,
    signed_in_user,
    static_choices_filter,
)
from integrations.exceptions import SwitchboardError
from integrations.forms import MoneyField
from integrations.money import CURRENCY_CHOICES, format_amount, format_money
from payments.finance_dashboard import (
    AGE_BANDS,
    FINANCE_DASHBOARD_PERMISSION,
    finance_dashboard_view,
)
from payments.models import Payment, ReconciliationException, Refund, RefundReason
from payments.reconciliation import (
    reconciliation_may_resolve,
    reconciliation_resolve,
    reconciliation_resolve_by_match,
    reconciliation_resolve_refund_due,
    reconciliation_write_off,
    reconciliation_write_off_approve,
    reconciliation_write_off_reject,
    write_off_accounts,
    write_off_needs_approval,
    write_off_threshold,
)
from payments.settlements.models import Payout, SettlementLine

E = ReconciliationException
# Unmatched settlement lines offered on the Resolve page for a manual match.
CANDIDATE_LINES = 50

PaymentProviderFilter = static_choices_filter("provider", "provider", provider_names("payments"))


class ReconciliationOpenFilter(DefaultValueFilter):
    """Open exceptions unless asked otherwise: the list finance still has to work."""

    default = E.Status.OPEN
    statuses = E.Status.choices


class AgeFilter(admin.SimpleListFilter):
    """How long an exception has waited: the finance dashboard's age bands."""

    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(index), label) for index, (label, _a, _b) in enumerate(AGE_BANDS)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[E]) -> QuerySet[E]:
        value = self.value()
        if value is None or not value.isdigit() or int(value) >= len(AGE_BANDS):
            return queryset
        _label, above, at_most = AGE_BANDS[int(value)]
        now = timezone.now()
        condition = Q(created_at__lte=now - timedelta(days=above)) if above else Q()
        if at_most is not None:
            condition &= Q(created_at__gt=now - timedelta(days=at_most))
        return queryset.filter(condition)


def kind_totals(queryset: QuerySet[E]) -> list[dict[str, Any]]:
    """Per kind of the listed exceptions: how many, and their amounts summed per currency (as
    money, never summed across currencies). One aggregate query."""
    rows = (
        queryset.order_by()
        .values("kind", "currency")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by("kind", "currency")
    )
    labels = dict(E.Kind.choices)
    totals: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = totals.setdefault(
            row["kind"],
            {"kind": row["kind"], "label": labels.get(row["kind"], row["kind"]), "count": 0},
        )
        entry["count"] += row["n"]
        if row["currency"] and row["total"] is not None:
            entry.setdefault("amounts", []).append(format_money(row["total"], row["currency"]))
    return list(totals.values())


# Forms ----------------------------------------------------------------------------------------


def _ids(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text.strip()) if part]


class LineChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        line: SettlementLine = obj
        return (
            f"{line.provider_line_id} · {line.get_kind_display()} · "
            f"{format_money(line.amount, line.currency)} · {line.created_at:%Y-%m-%d} · "
            f"{line.source_id or line.description or '-'}"
        )


class ResolveExceptionForm(forms.Form):
    """One form for the four resolutions; each uses its own fields (checked in ``clean``)."""

    resolution = forms.ChoiceField(choices=E.Resolution.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What was found and done."
    )
    lines = LineChoiceField(
        queryset=SettlementLine.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Settlement lines",
        help_text="Unmatched lines of this provider, newest first.",
    )
    payments = forms.CharField(
        required=False,
        help_text="Payment ids: the provider's (pay_..., pi_...) or ours, separated by spaces.",
    )
    refunds = forms.CharField(
        required=False, help_text="Refund ids: the provider's (re_...) or ours."
    )
    payouts = forms.CharField(
        required=False, help_text="Payout ids: the provider's (po_..., tra_...) or ours."
    )
    account = forms.ChoiceField(required=False, label="Write-off account")
    currency = forms.ChoiceField(required=False, choices=[("", "---------"), *CURRENCY_CHOICES])
    amount = MoneyField(currency="BRL", required=False, min_value=1)
    refund_reason = forms.ChoiceField(
        choices=RefundReason.choices, initial=RefundReason.OTHER, required=False
    )

    def __init__(self, *args: Any, exception: E, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exception = exception
        self.known_currency = exception.currency or (
            exception.payment.currency
            if exception.payment is not None
            else exception.settlement_line.currency
            if exception.settlement_line is not None
            else ""
        )
        currency = self.known_currency or str(self.data.get("currency") or "BRL").upper()
        if currency not in dict(CURRENCY_CHOICES):
            currency = "BRL"
        if self.known_currency:
            del self.fields["currency"]
        amount = self.fields["amount"]
        assert isinstance(amount, MoneyField)
        amount.set_currency(currency)
        amount.help_text = (
            f"In {currency}, e.g. {format_amount(1000, currency)}. A write-off above "
            f"{format_money(write_off_threshold(), currency)} needs a second finance user. "
            "For a refund due, empty refunds everything still refundable."
        )
        account = self.fields["account"]
        assert isinstance(account, forms.ChoiceField)
        account.choices = [("", "---------")] + [
            (code, f"{code} {name}") for code, name in write_off_accounts()
        ]
        lines = self.fields["lines"]
        assert isinstance(lines, forms.ModelMultipleChoiceField)
        lines.queryset = self._candidate_lines()
        if exception.settlement_line_id is not None:
            lines.initial = [exception.settlement_line_id]
        if exception.payment is not None:
            payment = exception.payment
            self.fields["payments"].initial = payment.provider_payment_id or str(payment.pk)
        if exception.amount is not None and exception.amount:
            amount.initial = abs(exception.amount)

    def _candidate_lines(self) -> QuerySet[SettlementLine]:
        unmatched = SettlementLine.objects.filter(match_item__isnull=True)
        if self.known_currency:
            unmatched = unmatched.filter(currency=self.known_currency)
        ids = list(
            unmatched.filter(provider=self.exception.provider)
            .order_by("-created_at", "-id")
            .values_list("pk", flat=True)[:CANDIDATE_LINES]
        )
        if self.exception.settlement_line_id is not None:
            ids.append(self.exception.settlement_line_id)
        return SettlementLine.objects.filter(pk__in=ids).order_by("-created_at", "-id")

    def _lookup(self, field: str, model: Any, id_field: str) -> list[int]:
        """Our ids (digits) or the provider's ids typed in ``field``, as our pks; unknown ones
        are named on the field."""
        wanted = _ids(self.cleaned_data.get(field) or "")
        pks = [int(value) for value in wanted if value.isdigit()]
        found: dict[str, int] = {}
        for pk, provider_id in model.objects.filter(
            Q(pk__in=pks) | Q(**{f"{id_field}__in": wanted})
        ).values_list("pk", id_field):
            found[str(pk)] = pk
            if provider_id:
                found[provider_id] = pk
        missing = [value for value in wanted if value not in found]
        if missing:
            self.add_error(field, f"Not found: {', '.join(missing)}.")
        return list(dict.fromkeys(found[value] for value in wanted if value in found))

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        resolution = data.get("resolution")
        if resolution == E.Resolution.MANUAL_MATCH:
            data["line_ids"] = [line.pk for line in data.get("lines") or []]
            data["payment_ids"] = self._lookup("payments", Payment, "provider_payment_id")
            data["refund_ids"] = self._lookup("refunds", Refund, "provider_refund_id")
            data["payout_ids"] = self._lookup("payouts", Payout, "provider_payout_id")
            keys = ("line_ids", "payment_ids", "refund_ids", "payout_ids")
            if sum(len(data[key]) for key in keys) < 2 and not self.errors:
                self.add_error("lines", "A match needs at least two items: pick what belongs.")
        elif resolution == E.Resolution.WRITE_OFF:
            if not data.get("account"):
                self.add_error("account", "A write-off needs an account.")
            if data.get("amount") is None and "amount" not in self.errors:
                self.add_error("amount", "A write-off needs an amount.")
            if not self.known_currency and not data.get("currency"):
                self.add_error("currency", "Say the write-off's currency.")
        elif resolution == E.Resolution.REFUND_DUE and self.exception.payment is None:
            self.add_error("resolution", "This exception names no payment to refund.")
        return data


class RejectWriteOffForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Told to the proposer; the exception goes back to the open queue.",
    )


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="What was found and done."
    )

    def clean_note(self) -> str:
        note: str = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("Resolving needs a note.")
        return note


# The admin ------------------------------------------------------------------------------------


class ReconciliationExceptionAdmin(
    MoneyFieldsAdminMixin, LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """Finance's exception queue: open ones first (oldest at the bottom of the newest-first
    list), each resolved on its own page."""

    # What finance acts on first (kind, status, amount, age, the link to resolve it) stays in
    # sight in a 1366 px window; the longer columns follow, cut to width.
    list_display = (
        "id",
        "kind",
        "status",
        "difference",
        "age",
        "next_step",
        "provider",
        "short_detail",
        "payment",
        "provider_object_id",
        "resolution",
    )
    list_filter = (ReconciliationOpenFilter, "kind", PaymentProviderFilter, AgeFilter)
    search_fields = ("provider_object_id__exact",)
    search_help_text = "Provider object id (exact): a settlement line, payout or payment id."
    list_select_related = ("payment",)
    actions = ["resolve_selected"]
    change_list_template = "admin/payments/reconciliationexception/change_list.html"
    change_form_template = "admin/payments/reconciliationexception/change_form.html"
    difference = money_column("amount", "currency", "Amount")
    written_off = money_column("write_off_amount", "currency", "Written off")
    money_fields = {"amount": "difference", "write_off_amount": "written_off"}

    class Media:
        css = {"all": (COLUMNS_CSS,)}

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return reconciliation_may_resolve(user=request.user)

    # Columns ---------------------------------------------------------------------------------

    @admin.display(description="Detail")
    def short_detail(self, obj: E) -> str:
        return cut_text(obj.detail)

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj: E) -> str:
        return short_age(timezone.now() - obj.created_at)

    @admin.display(description="")
    def next_step(self, obj: E) -> str:
        from django.utils.html import format_html

        if obj.status == E.Status.OPEN:
            url = reverse("admin:payments_reconciliationexception_resolve", args=[obj.pk])
            return format_html('<a href="{}" class="resolve-link">Resolve…</a>', url)
        if obj.status == E.Status.AWAITING_APPROVAL:
            url = reverse("admin:payments_reconciliationexception_write_off", args=[obj.pk])
            return format_html('<a href="{}" class="approve-link">Approve / reject…</a>', url)
        return ""

    # The list --------------------------------------------------------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {"can_see_finance_dashboard": request.user.has_perm(FINANCE_DASHBOARD_PERMISSION)}
        response = super().changelist_view(request, {**(extra_context or {}), **extra})
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            context["kind_totals"] = kind_totals(context["cl"].queryset)
        return response

    @admin.action(description="Mark resolved (note only)…", permissions=["resolve"])
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[E]) -> HttpResponse | None:
        user = signed_in_user(request, User)

        def resolve(exception: E, data: dict[str, Any]) -> bool:
            try:
                reconciliation_resolve(exception=exception, user=user, note=data["note"])
            except SwitchboardError as exc:
                self.message_user(request, f"#{exception.pk}: {exc}", level=messages.ERROR)
                return False
            return True

        return confirm_with_form(
            self,
            request,
            form_class=NoteForm,
            rows=("exceptions", list(queryset)),
            action="resolve_selected",
            title="Resolve reconciliation exceptions",
            template="admin/payments/reconciliationexception/resolve.html",
            apply=resolve,
            done_message="Resolved {n} exception(s).",
        )

    # Pages -----------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "finance/",
                self.admin_site.admin_view(require_GET(self.finance_dashboard)),
                name="payments_reconciliationexception_finance",
            ),
            path(
                "<int:exception_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="payments_reconciliationexception_resolve",
            ),
            path(
                "<int:exception_id>/write-off/",
                self.admin_site.admin_view(self.write_off_view),
                name="payments_reconciliationexception_write_off",
            ),
            *super().get_urls(),
        ]

    def finance_dashboard(self, request: HttpRequest) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts}
        return finance_dashboard_view(request, context)

    def _exception(self, request: HttpRequest, exception_id: int) -> E:
        if not self.has_resolve_permission(request):
            raise PermissionDenied("Your role cannot resolve reconciliation exceptions.")
        return get_object_or_404(
            E.objects.select_related(
                "payment__order", "settlement_line", "proposed_by", "match", "refund"
            ),
            pk=exception_id,
        )

    def _context(self, request: HttpRequest, exception: E, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "exception": exception,
            "difference": self.difference(exception),
            "written_off": self.written_off(exception),
            "threshold": format_money(write_off_threshold(), exception.currency or "BRL"),
        }

    def resolve_view(self, request: HttpRequest, exception_id: int) -> HttpResponse:
        exception = self._exception(request, exception_id)
        form = ResolveExceptionForm(
            request.POST if request.method == "POST" else None, exception=exception
        )
        if request.method == "POST" and exception.status == E.Status.OPEN and form.is_valid():
            try:
                done = self._apply(request, exception, form.cleaned_data)
            except SwitchboardError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:payments_reconciliationexception_changelist")
                )
        context = {
            **self._context(request, exception, f"Resolve exception {exception.pk}"),
            "form": form,
        }
        return TemplateResponse(
            request, "admin/payments/reconciliationexception/resolve_one.html", context
        )

    def _apply(self, request: HttpRequest, exception: E, data: dict[str, Any]) -> str:
        user = signed_in_user(request, User)
        resolution = data["resolution"]
        if resolution == E.Resolution.MANUAL_MATCH:
            resolved = reconciliation_resolve_by_match(
                exception=exception,
                user=user,
                note=data["note"],
                line_ids=data["line_ids"],
                payment_ids=data["payment_ids"],
                refund_ids=data["refund_ids"],
                payout_ids=data["payout_ids"],
            )
            return f"Exception {exception.pk} resolved by manual match {resolved.match_id}."
        if resolution == E.Resolution.WRITE_OFF:
            resolved = reconciliation_write_off(
                exception=exception,
                user=user,
                account=data["account"],
                amount=data["amount"],
                note=data["note"],
                currency=data.get("currency") or "",
            )
            money = format_money(data["amount"], resolved.currency)
            if write_off_needs_approval(data["amount"]):
                return (
                    f"Write-off of {money} on exception {exception.pk} proposed: it waits for a "
                    "second finance user's approval."
                )
            return f"Exception {exception.pk} written off: {money} to {data['account']}."
        if resolution == E.Resolution.REFUND_DUE:
            resolved = reconciliation_resolve_refund_due(
                exception=exception,
                user=user,
                note=data["note"],
                amount=data.get("amount"),
                reason=data.get("refund_reason") or RefundReason.OTHER,
            )
            return f"Exception {exception.pk} resolved: {resolved.refund} requested."
        reconciliation_resolve(exception=exception, user=user, note=data["note"])
        return f"Exception {exception.pk} resolved."

    def write_off_view(self, request: HttpRequest, exception_id: int) -> HttpResponse:
        exception = self._exception(request, exception_id)
        here = reverse("admin:payments_reconciliationexception_write_off", args=[exception.pk])
        reject_form = RejectWriteOffForm(
            request.POST if request.POST.get("decision") == "reject" else None
        )
        if request.method == "POST":
            approver = signed_in_user(request, User)
            decision = request.POST.get("decision")
            try:
                if decision == "approve":
                    if not reauth_is_fresh(request):
                        self.message_user(
                            request,
                            "Approving a write-off needs you to confirm who you are first; "
                            "nothing was approved.",
                            messages.WARNING,
                        )
                        return reauth_required_redirect(request, here)
                    reconciliation_write_off_approve(
                        exception=exception,
                        approver=approver,
                        reauthenticated_at=reauth_stamp(request),
                    )
                    done = f"Write-off on exception {exception.pk} approved: resolved."
                elif decision == "reject" and reject_form.is_valid():
                    reconciliation_write_off_reject(
                        exception=exception,
                        approver=approver,
                        reason=reject_form.cleaned_data["reason"],
                    )
                    done = f"Write-off on exception {exception.pk} rejected: open again."
                else:
                    done = ""
            except SwitchboardError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return HttpResponseRedirect(here)
            if done:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:payments_reconciliationexception_changelist")
                )
        awaiting = exception.status == E.Status.AWAITING_APPROVAL
        own = exception.proposed_by_id == request.user.pk
        accounts = dict(write_off_accounts())
        context = {
            **self._context(request, exception, f"Write-off on exception {exception.pk}"),
            "awaiting": awaiting,
            "own": own,
            "can_decide": awaiting and not own,
            "account_name": accounts.get(exception.write_off_account, ""),
            "reject_form": reject_form,
        }
        return TemplateResponse(
            request, "admin/payments/reconciliationexception/write_off.html", context
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_resolve": self.has_resolve_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)
