"""CSV statements read with a saved column mapping: all or nothing, errors named by row."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError

from payments.exceptions import SettlementCsvInvalid
from payments.settlements.csv_import import parse_statement_amount, settlement_csv_import
from payments.settlements.models import CsvColumnMapping, SettlementKind, SettlementLine

pytestmark = pytest.mark.django_db


def _itau() -> CsvColumnMapping:
    return CsvColumnMapping.objects.create(
        name="Itaú extrato",
        provider="bank-itau",
        delimiter=";",
        date_column="Data",
        date_format="%d/%m/%Y",
        amount_column="Valor",
        fixed_currency="BRL",
        reference_column="Histórico",
        decimal_separator=",",
    )


ITAU = (
    "Data;Histórico;Valor\n"
    "10/03/2026;PIX RECEBIDO pay_001;1.234,56\n"
    "10/03/2026;TARIFA;-2,50\n"
    "11/03/2026;PIX RECEBIDO pay_001;1.234,56\n"
    "\n"
    "11/03/2026;PIX RECEBIDO pay_001;1.234,56\n"
).encode()


def test_a_statement_is_stored_once_in_minor_units() -> None:
    mapping = _itau()
    assert settlement_csv_import(mapping, ITAU).created == 4
    lines = list(SettlementLine.objects.order_by("created_at", "amount"))
    assert [(line.amount, line.currency, line.kind) for line in lines] == [
        (-250, "BRL", SettlementKind.STATEMENT),
        (123_456, "BRL", SettlementKind.STATEMENT),
        (123_456, "BRL", SettlementKind.STATEMENT),
        (123_456, "BRL", SettlementKind.STATEMENT),
    ]
    assert lines[0].created_at == datetime(2026, 3, 10, tzinfo=UTC)
    assert lines[1].description == "PIX RECEBIDO pay_001" and lines[1].provider == "bank-itau"
    # Two identical rows are two lines (the bank booked twice); the same file again adds none.
    assert settlement_csv_import(mapping, ITAU).created == 0
    assert SettlementLine.objects.count() == 4


def test_errors_name_their_rows_and_nothing_is_half_imported() -> None:
    mapping = _itau()
    bad = (
        "Data;Histórico;Valor\n"
        "10/03/2026;ok;10,00\n"
        "2026-03-10;wrong date;10,00\n"
        "11/03/2026;three decimals;10,005\n"
        "12/03/2026;not money;dez reais\n"
    ).encode()
    with pytest.raises(SettlementCsvInvalid) as refused:
        settlement_csv_import(mapping, bad)
    assert [e.split(":")[0] for e in refused.value.errors] == ["Row 3", "Row 4", "Row 5"]
    assert "does not match %d/%m/%Y" in refused.value.errors[0]
    assert SettlementLine.objects.count() == 0


def test_a_missing_column_is_named_in_the_header_row() -> None:
    with pytest.raises(SettlementCsvInvalid, match=r"Row 1 \(header\): no amount column 'Valor'"):
        settlement_csv_import(_itau(), b"Data;Historico;Amount\n10/03/2026;x;1,00\n")


def test_a_currency_column_and_line_ids_from_another_psp() -> None:
    mapping = CsvColumnMapping.objects.create(
        name="PagSeguro",
        provider="pagseguro",
        date_column="date",
        amount_column="amount",
        currency_column="currency",
        line_id_column="id",
        reference_column="ref",
    )
    data = b'id,date,amount,currency,ref\nL1,2026-03-10,"1,234.50",usd,ord-1\nL2,2026-03-10,(3.00),EUR,fee\n'
    settlement_csv_import(mapping, data)
    assert dict(SettlementLine.objects.values_list("provider_line_id", "amount")) == {
        "L1": 123_450,
        "L2": -300,
    }
    assert SettlementLine.objects.get(provider_line_id="L1").currency == "USD"
    dup = b"id,date,amount,currency,ref\nL3,2026-03-10,1.00,USD,a\nL3,2026-03-11,2.00,XYZ,b\nL4,2026-03-11,2.00,,c\n"
    with pytest.raises(SettlementCsvInvalid) as refused:
        settlement_csv_import(mapping, dup)
    assert refused.value.errors == [
        "Row 3: currency 'XYZ' is not one Switchboard knows.",
        "Row 4: currency '(empty)' is not one Switchboard knows.",
    ]


def test_amounts_follow_the_mappings_separator() -> None:
    assert parse_statement_amount("1.234,56", "BRL", ",") == 123_456
    assert parse_statement_amount("1,234.56", "USD", ".") == 123_456
    assert parse_statement_amount("-0,99", "BRL", ",") == -99
    assert parse_statement_amount("12-", "BRL", ",") == -1_200


def test_a_mapping_needs_a_currency() -> None:
    with pytest.raises(IntegrityError):
        CsvColumnMapping.objects.create(name="x", provider="x", date_column="d", amount_column="a")


def test_a_repeated_line_id_is_refused() -> None:
    mapping = CsvColumnMapping.objects.create(
        name="PSP",
        provider="psp",
        date_column="date",
        amount_column="amount",
        fixed_currency="EUR",
        line_id_column="id",
    )
    data = b"id,date,amount\nL5,2026-03-10,1.00\nL5,2026-03-11,1.00\n,2026-03-11,1.00\n"
    with pytest.raises(SettlementCsvInvalid) as refused:
        settlement_csv_import(mapping, data)
    assert refused.value.errors == [
        "Row 3: line id 'L5' repeats row 2.",
        "Row 4: no line id in 'id'.",
    ]
