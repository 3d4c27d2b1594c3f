"""Money is integer minor units plus an ISO 4217 currency; these helpers only format it."""

from __future__ import annotations

# ISO 4217 minor-unit exponents that differ from 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3}
_SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€", "GBP": "£"}

CURRENCY_CHOICES = [("BRL", "BRL"), ("USD", "USD"), ("EUR", "EUR"), ("GBP", "GBP")]


def minor_unit_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_money(amount: int, currency: str) -> str:
    """``format_money(199990, "BRL") == "R$ 1,999.90"``; exact, never through a float."""
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    text = f"{whole:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    symbol = _SYMBOLS.get(currency.upper(), currency.upper())
    return f"{sign}{symbol} {text}"
