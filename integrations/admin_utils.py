"""Admin building blocks shared by every app."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet


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
    """For changelists over tables that grow without bound."""

    show_full_result_count = False
    list_per_page = 50

    def get_paginator(
        self, request: Any, queryset: Any, per_page: int, *args: Any, **kw: Any
    ) -> Any:
        return CappedCountPaginator(queryset, per_page, *args, **kw)


class ReadOnlyAdminMixin:
    """Rows written only by services or providers: viewable, never edited in the admin."""

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


def money_column(amount_field: str, currency_field: str, description: str) -> Any:
    """A changelist column showing minor units as money, e.g. ``R$ 1,999.90``."""
    from integrations.money import format_money

    def column(self: Any, obj: Any) -> str:
        return format_money(getattr(obj, amount_field), getattr(obj, currency_field))

    column.short_description = description  # type: ignore[attr-defined]
    column.admin_order_field = amount_field  # type: ignore[attr-defined]
    return column
