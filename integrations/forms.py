"""Form fields shared by the admin's forms."""

from __future__ import annotations

from typing import Any

from django import forms

from integrations.exceptions import InvalidMoney
from integrations.money import currency_symbol, format_amount, parse_money


class MoneyInput(forms.TextInput):
    """A text input (not ``type=number``, so the browser keeps a typed comma) that shows an
    integer initial value in major units, e.g. ``1000`` as ``10,00`` for BRL."""

    def __init__(self, currency: str, attrs: dict[str, Any] | None = None) -> None:
        self.currency = currency
        super().__init__(
            {"inputmode": "decimal", "autocomplete": "off", "size": 14, **(attrs or {})}
        )

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return format_amount(value, self.currency)
        return super().format_value(value)


class MoneyField(forms.CharField):
    """An amount typed in major units of ``currency`` ("10,00", "10.00", "1.234,56"), cleaned
    to exact minor units (an int); more decimals than the currency has, negatives and anything
    unreadable are refused with a message saying why."""

    def __init__(self, *, currency: str, min_value: int | None = None, **kwargs: Any) -> None:
        self.currency = currency.upper()
        self.min_value = min_value
        kwargs.setdefault("widget", MoneyInput(self.currency))
        super().__init__(**kwargs)

    def set_currency(self, currency: str) -> None:
        """For forms whose currency is known only per instance (the payment's)."""
        self.currency = currency.upper()
        if isinstance(self.widget, MoneyInput):
            self.widget.currency = self.currency

    @property
    def symbol(self) -> str:
        return currency_symbol(self.currency)

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        try:
            amount = parse_money(text, self.currency)
        except InvalidMoney as exc:
            raise forms.ValidationError(str(exc), code=InvalidMoney.code) from exc
        if self.min_value is not None and amount < self.min_value:
            raise forms.ValidationError(
                f"Enter at least {currency_symbol(self.currency)} "
                f"{format_amount(self.min_value, self.currency)}.",
                code="min_value",
            )
        return amount
