"""Money is integer minor units plus an ISO 4217 currency; these helpers format it for people
and read what people type, exactly (never through a float)."""

from __future__ import annotations

import re

from integrations.exceptions import InvalidMoney

# ISO 4217 minor-unit exponents that differ from 2.
_EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3, "JOD": 3, "OMR": 3}
_SYMBOLS = {"BRL": "R$", "USD": "US$", "EUR": "€", "GBP": "£"}
# Currencies written with a dot for thousands and a comma for decimals (pt-BR): "R$ 1.999,90".
_COMMA_DECIMAL = {"BRL"}
_SWAP_SEPARATORS = str.maketrans(",.", ".,")

CURRENCY_CHOICES = [("BRL", "BRL"), ("USD", "USD"), ("EUR", "EUR"), ("GBP", "GBP")]


def minor_unit_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def currency_symbol(currency: str) -> str:
    return _SYMBOLS.get(currency.upper(), currency.upper())


def format_amount(amount: int, currency: str) -> str:
    """The number alone in the currency's convention: ``1.999,90`` for BRL, ``1,999.90`` else."""
    exponent = minor_unit_exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    text = f"{whole:,}"
    if exponent:
        text += f".{fraction:0{exponent}d}"
    if currency.upper() in _COMMA_DECIMAL:
        text = text.translate(_SWAP_SEPARATORS)
    return f"{sign}{text}"


def format_money(amount: int, currency: str) -> str:
    """``format_money(199990, "BRL") == "R$ 1.999,90"``, ``format_money(199990, "USD") ==
    "US$ 1,999.90"``; exact, never through a float."""
    amount_text = format_amount(amount, currency)
    sign = "-" if amount_text.startswith("-") else ""
    return f"{sign}{currency_symbol(currency)} {amount_text.removeprefix('-')}"


_SEPARATORS = ".,"


def parse_money(text: str, currency: str) -> int:
    """What a person typed, in major units, as exact minor units: for BRL ``"10"``, ``"10,00"``
    and ``"10.00"`` are all 1000; ``"1.234,56"`` and ``"1,234.56"`` are 123456. The currency's
    symbol or code and spaces are ignored. When both separators appear the last one is the
    decimal mark; a lone separator followed by at most the currency's decimals is the decimal
    mark. Refused (InvalidMoney): more decimals than the currency has, a lone separator that
    could be a thousands separator ("1.234"), negatives and anything else."""
    currency = currency.upper()
    exponent = minor_unit_exponent(currency)
    original = text
    cleaned = text.strip()
    for token in (currency_symbol(currency), currency):
        cleaned = cleaned.replace(token, "")
    cleaned = re.sub(r"\s+", "", cleaned)
    if cleaned.startswith("-"):
        raise InvalidMoney(f"Enter a positive amount, not {original.strip()!r}.")
    if not cleaned:
        raise InvalidMoney("Enter an amount.")
    if not re.fullmatch(r"[0-9.,]+", cleaned) or not cleaned[0].isdigit():
        raise InvalidMoney(
            f"{original.strip()!r} is not an amount; write it like {_example(currency)}."
        )

    positions = [i for i, char in enumerate(cleaned) if char in _SEPARATORS]
    marks = {cleaned[i] for i in positions}
    whole, fraction = cleaned, ""
    if len(marks) == 2:
        decimal_at = positions[-1]
        decimal_mark = cleaned[decimal_at]
        if cleaned.count(decimal_mark) > 1:
            raise InvalidMoney(
                f"{original.strip()!r} is not an amount; write it like {_example(currency)}."
            )
        whole, fraction = cleaned[:decimal_at], cleaned[decimal_at + 1 :]
        whole = _without_thousands(whole, original, currency)
    elif len(marks) == 1:
        mark = marks.pop()
        if len(positions) > 1:
            # "1.234.567": only thousands separators, no decimals.
            whole = _without_thousands(cleaned, original, currency)
        else:
            head, tail = cleaned.split(mark)
            if not tail:
                raise InvalidMoney(
                    f"{original.strip()!r} is not an amount; write it like {_example(currency)}."
                )
            if len(tail) <= exponent:
                whole, fraction = head, tail
            elif exponent == 0:
                raise InvalidMoney(
                    f"{currency} has no decimals: {original.strip()!r} is refused; "
                    f"write a whole amount like {_example(currency)}."
                )
            elif len(tail) == 3:
                raise InvalidMoney(
                    f"{original.strip()!r} is ambiguous ({currency} has {exponent} decimals): "
                    f"write {head}{tail} or "
                    f"{format_amount(int(head + tail) * 10**exponent, currency)}."
                )
            else:
                raise InvalidMoney(
                    f"{original.strip()!r} has more decimals than {currency} has ({exponent})."
                )
    if len(fraction) > exponent:
        raise InvalidMoney(
            f"{original.strip()!r} has more decimals than {currency} has ({exponent})."
        )
    if not whole.isdigit() or (fraction and not fraction.isdigit()):
        raise InvalidMoney(
            f"{original.strip()!r} is not an amount; write it like {_example(currency)}."
        )
    return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")


def _without_thousands(whole: str, original: str, currency: str) -> str:
    """``1.234.567`` -> ``1234567``; refused unless every group after the first has 3 digits."""
    groups = re.split(r"[.,]", whole)
    if len({char for char in whole if char in _SEPARATORS}) > 1 or not (
        1 <= len(groups[0]) <= 3 and all(len(group) == 3 for group in groups[1:])
    ):
        raise InvalidMoney(
            f"{original.strip()!r} is not an amount; write it like {_example(currency)}."
        )
    return "".join(groups)


def _example(currency: str) -> str:
    return format_amount(123456 * 10 ** minor_unit_exponent(currency) // 100, currency)


_PROVIDER_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,18}))?")


def decimal_to_minor(value: object, currency: str) -> int:
    """A provider's decimal string in major units (``"199.90"``, ``"10"``, Shopify's and most
    REST APIs' money) as exact minor units of ``currency`` (its ISO 4217 exponent: ``"1500"``
    JPY is 1500, ``"1.500"`` KWD is 1500). ASCII digits with an optional ``.`` only, never
    through a float; trailing zeros past the exponent are fine (``"10.000"`` USD is 1000).
    Raises InvalidMoney for anything else: a negative, an exponent, a comma, more significant
    decimals than the currency has."""
    text = value if isinstance(value, str) else ""
    match = _PROVIDER_DECIMAL.fullmatch(text.strip()) if text.isascii() else None
    if match is None:
        raise InvalidMoney(f"{str(value)[:40]!r} is not a decimal amount.")
    exponent = minor_unit_exponent(currency)
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > exponent:
        raise InvalidMoney(f"{text!r} has more decimals than {currency.upper()} has ({exponent}).")
    return int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or "0")
