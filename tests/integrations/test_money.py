"""Money typed and shown by people: exact minor units, each currency in its own convention."""

from __future__ import annotations

import pytest
from django import forms

from integrations.exceptions import InvalidMoney, SwitchboardError
from integrations.forms import MoneyField
from integrations.money import decimal_to_minor, format_money, parse_money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (199_990, "BRL", "R$ 1.999,90"),
        (1_000, "BRL", "R$ 10,00"),
        (5, "BRL", "R$ 0,05"),
        (-2_550, "BRL", "-R$ 25,50"),
        (123_456_789, "BRL", "R$ 1.234.567,89"),
        (199_990, "USD", "US$ 1,999.90"),
        (1_000, "JPY", "JPY 1,000"),
        (1_234_567, "KWD", "KWD 1,234.567"),
    ],
)
def test_format_money_uses_each_currencys_convention(amount, currency, shown):
    assert format_money(amount, currency) == shown


@pytest.mark.parametrize(
    ("typed", "currency", "minor"),
    [
        ("10", "BRL", 1_000),
        ("10,00", "BRL", 1_000),
        ("10.00", "BRL", 1_000),
        ("10,5", "BRL", 1_050),
        ("0,01", "BRL", 1),
        ("1.234,56", "BRL", 123_456),
        ("1,234.56", "BRL", 123_456),
        ("1.234.567,89", "BRL", 123_456_789),
        ("1.234.567", "BRL", 123_456_700),
        (" R$ 10,00 ", "BRL", 1_000),
        ("R$10,00", "BRL", 1_000),
        ("BRL 10,00", "BRL", 1_000),
        ("US$ 1,999.90", "USD", 199_990),
        ("1500", "JPY", 1_500),
        ("1.234", "KWD", 1_234),
        # Exact where a float would not be: 0.29 * 100 == 28.999999999999996.
        ("0,29", "BRL", 29),
        ("99999999999999,99", "BRL", 9_999_999_999_999_999),
    ],
)
def test_parse_money_reads_what_people_type(typed, currency, minor):
    assert parse_money(typed, currency) == minor
    assert isinstance(parse_money(typed, currency), int)


@pytest.mark.parametrize(
    ("typed", "currency", "says"),
    [
        ("10.123", "BRL", "ambiguous"),
        ("10,001", "BRL", "ambiguous"),
        ("1.234", "BRL", "write 1234 or 1.234,00"),
        ("10,1234", "BRL", "more decimals than BRL has (2)"),
        ("1,234.567", "BRL", "more decimals than BRL has (2)"),
        ("1.5", "JPY", "JPY has no decimals"),
        ("1,000", "JPY", "JPY has no decimals"),
        ("-10", "BRL", "positive"),
        ("- 10,00", "BRL", "positive"),
        ("", "BRL", "Enter an amount"),
        ("R$", "BRL", "Enter an amount"),
        ("abc", "BRL", "not an amount"),
        ("1e3", "BRL", "not an amount"),
        ("10,", "BRL", "not an amount"),
        (",50", "BRL", "not an amount"),
        ("1..2", "BRL", "not an amount"),
        ("1,234.56.7", "BRL", "not an amount"),
        ("12.34,5", "BRL", "not an amount"),
        ("1,2,3", "BRL", "not an amount"),
        ("US$ 10", "BRL", "not an amount"),
    ],
)
def test_parse_money_refuses_what_it_cannot_read_exactly(typed, currency, says):
    with pytest.raises(InvalidMoney, match=None) as refused:
        parse_money(typed, currency)
    assert says in str(refused.value)
    assert isinstance(refused.value, SwitchboardError)
    assert refused.value.code == "invalid_money"


class _Form(forms.Form):
    amount = MoneyField(currency="BRL", min_value=1)


def test_money_field_cleans_to_minor_units_and_shows_major_units():
    assert _Form({"amount": "10,00"}).is_valid()
    form = _Form({"amount": "10.00"})
    assert form.is_valid() and form.cleaned_data["amount"] == 1_000

    refused = _Form({"amount": "10,001"})
    assert not refused.is_valid()
    assert "ambiguous" in refused.errors["amount"][0]
    assert not _Form({"amount": "0"}).is_valid()

    html = str(_Form(initial={"amount": 123_456})["amount"])
    assert 'value="1.234,56"' in html
    assert 'type="text"' in html and 'inputmode="decimal"' in html


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("199.90", "BRL", 19_990),
        ("10", "USD", 1_000),
        ("0.5", "EUR", 50),
        ("10.000", "USD", 1_000),  # trailing zeros past the exponent are not more precision
        ("1500", "JPY", 1_500),
        ("1500.0", "JPY", 1_500),
        ("1.500", "KWD", 1_500),
        ("0.00", "BRL", 0),
        ("92233720368547758.07", "BRL", 2**63 - 1),
    ],
)
def test_a_provider_decimal_string_becomes_exact_minor_units(
    text: str, currency: str, minor: int
) -> None:
    assert decimal_to_minor(text, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("99.901", "BRL"),
        ("1500.5", "JPY"),
        ("-1.00", "BRL"),
        ("1e3", "BRL"),
        ("1,50", "BRL"),
        ("", "BRL"),
        (" ", "BRL"),
        ("01.00", "BRL"),
        ("\u0661\u0662.00", "BRL"),  # Arabic-Indic digits: not ASCII
        ("NaN", "BRL"),
        (19.9, "BRL"),  # a float from a JSON number is not the documented string
        (None, "BRL"),
        ("1" * 19, "BRL"),
    ],
)
def test_anything_but_a_plain_decimal_string_is_refused(value: object, currency: str) -> None:
    with pytest.raises(InvalidMoney):
        decimal_to_minor(value, currency)
