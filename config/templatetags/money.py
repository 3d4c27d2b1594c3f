"""``{{ amount|money:currency }}``: minor units shown as money, e.g. ``R$ 1.234,56``."""

from __future__ import annotations

from django import template

from integrations.money import format_money

register = template.Library()


@register.filter
def money(amount: int | None, currency: str) -> str:
    if amount is None or not currency:
        return "-"
    return format_money(int(amount), str(currency))
