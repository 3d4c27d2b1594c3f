"""Admin building blocks shared by every app."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

UserT = TypeVar("UserT")


class CappedCountPaginator(Paginator):
    """Counts at most ``ADMIN_COUNT_CAP + 1`` rows, so a changelist over millions of rows does not
    scan them all to print a total. Past the cap the last page number is an estimate."""

    @cached_property
    def count(self) -> int:
        cap = settings.ADMIN_COUNT_CAP
        if isinstance(self.object_list, QuerySet):
            return self.object_list[: cap + 1].count()
        return len(self.object_list)

    @property
    def is_capped(self) -> bool:
        return self.count > settings.ADMIN_COUNT_CAP


class LargeTableAdminMixin:
    """For changelists over tables that grow without bound: a capped count instead of a full
    one, and the columns named in ``list_defer`` (raw bodies, tracebacks) left unread by the
    list, which shows none of them (the change page still reads them)."""

    show_full_result_count = False
    list_per_page = 50
    list_defer: tuple[str, ...] = ()

    def get_paginator(
        self, request: Any, queryset: Any, per_page: int, *args: Any, **kw: Any
    ) -> Any:
        return CappedCountPaginator(queryset, per_page, *args, **kw)

    def get_changelist(self, request: Any, **kwargs: Any) -> type[ChangeList]:
        deferred = self.list_defer
        if not deferred:
            return ChangeList

        class DeferringChangeList(ChangeList):
            def get_queryset(self, request: Any, exclude_parameters: Any = None) -> Any:
                return super().get_queryset(request, exclude_parameters).defer(*deferred)

        return DeferringChangeList


def static_choices_filter(
    field: str, title: str, choices: Callable[[], Iterable[str]]
) -> type[admin.SimpleListFilter]:
    """A list filter on ``field`` whose choices come from ``choices()`` (the providers in the
    settings, the registered event types), plus the value already selected: Django's default
    for a field without choices is ``SELECT DISTINCT field`` over the whole table on every view
    of the list."""

    class StaticChoicesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            values = set(choices())
            if self.value():
                values.add(str(self.value()))
            return [(value, value) for value in sorted(values)]

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            value = self.value()
            return queryset.filter(**{field: value}) if value else queryset

    StaticChoicesFilter.title = title
    StaticChoicesFilter.__name__ = f"{field.title().replace('_', '')}Filter"
    return StaticChoicesFilter


def provider_names(family_name: str) -> Callable[[], list[str]]:
    """The listed providers of a family (``payments``, ``shipping``), for a static filter."""

    def names() -> list[str]:
        from integrations import providers

        family = {"payments": providers.PAYMENTS, "shipping": providers.SHIPPING}[family_name]
        return list(providers.specs(family))

    return names


def ids_matching(queryset: QuerySet[Any], limit: int = 1_000) -> list[Any]:
    """Primary keys of an exact, indexed lookup (an order number, a provider id), read first:
    the search then filters the listed table by ``pk__in`` (or a foreign key ``__in``), which
    every planner serves from an index, instead of a join the planner may walk in list order."""
    return list(queryset.values_list("pk", flat=True)[:limit])


def order_number_candidates(term: str) -> list[str]:
    """An order number as typed and upper-cased (``sb-000123`` finds ``SB-000123``) through the
    unique index; ``__iexact`` is a LIKE on SQLite, which no index serves."""
    term = term.strip()
    return sorted({term, term.upper()})


# Styles for changelist columns: cut_text's width and ellipsis. Add to a ModelAdmin's Media.
COLUMNS_CSS = "integrations/admin/columns.css"


def cut_text(value: object, *, narrow: bool = False) -> SafeString | str:
    """A changelist cell for a value that can be long: cut to the column's width by
    ``COLUMNS_CSS`` (with an ellipsis), the whole value in its title tooltip; "-" when empty."""
    text = "" if value is None else str(value)
    if not text:
        return "-"
    css = "sb-cut sb-cut-narrow" if narrow else "sb-cut"
    return format_html('<span class="{}" title="{}">{}</span>', css, text, text)


class ReadOnlyAdminMixin:
    """Rows written only by services or providers: viewable, never edited in the admin."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def money_column(amount_field: str, currency_field: str, description: str) -> Any:
    """A changelist column or read-only field showing minor units as money, e.g.
    ``R$ 1.999,90``. ``currency_field`` may follow a relation (``order__currency``)."""
    from integrations.money import format_money

    def column(self: Any, obj: Any) -> str:
        amount = getattr(obj, amount_field)
        currency: Any = obj
        for part in currency_field.split("__"):
            currency = getattr(currency, part)
        if amount is None or not currency:
            return "-"
        return format_money(amount, currency)

    column.short_description = description  # type: ignore[attr-defined]
    column.admin_order_field = amount_field  # type: ignore[attr-defined]
    return column


class MoneyFieldsAdminMixin:
    """Change pages that show amounts as money, not as minor-unit integers: each model field
    named in ``money_fields`` is replaced, where the page would show it, by the read-only
    display (a ``money_column``) named for it, e.g. ``{"amount": "total"}``."""

    money_fields: ClassVar[dict[str, str]] = {}

    def get_fields(self, request: Any, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)  # type: ignore[misc]
        return list(dict.fromkeys(self.money_fields.get(name, name) for name in fields))

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        # The raw fields stay read-only too, so they never become form fields.
        readonly = tuple(super().get_readonly_fields(request, obj))  # type: ignore[misc]
        extra = (*self.money_fields, *self.money_fields.values())
        return (*readonly, *(name for name in extra if name not in readonly))


class OrderLinkAdminMixin:
    """Change pages of rows that belong to an order (a payment, refund, dispute, shipment) link
    back to it at the top ("Order SB-000123", ``#order-link``), for users who may open orders.
    ``order_path`` is the path from the row to its order (``payment__order``); one query."""

    order_path: ClassVar[str] = "order"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        model: Any = self.model  # type: ignore[attr-defined]
        if object_id.isdigit() and request.user.has_perm("orders.view_order"):
            found = (
                model._default_manager.filter(pk=object_id)
                .values_list(f"{self.order_path}__pk", f"{self.order_path}__number")
                .first()
            )
            if found is not None:
                extra_context.update(
                    linked_order_url=reverse("admin:orders_order_change", args=[found[0]]),
                    linked_order_number=found[1],
                )
        return super().change_view(  # type: ignore[misc]
            request, object_id, form_url, extra_context
        )


def signed_in_user(request: HttpRequest, user_type: type[UserT]) -> UserT:
    """The request's user as ``user_type`` (the project's user model); PermissionDenied for
    anyone else (an anonymous request that got this far)."""
    user: object = request.user
    if not isinstance(user, user_type):
        raise PermissionDenied("Sign in first.")
    return user


def short_age(delta: timedelta) -> str:
    """``3 min``, ``5 h``, ``2 d``: how long a request has waited."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


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
