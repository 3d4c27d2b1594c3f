"""The journal exports: exact columns of the generic CSV, Xero's manual journal and QuickBooks
Online's journal entry import; entries filtered by period; sums balance; each export audited."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from accounting.exceptions import JournalExportRefused
from accounting.exports import journal_export, major
from accounting.models import AccountingPeriod
from accounting.services import accounting_period_close, credit, debit, journal_post
from accounts.models import AuditLogEntry
from tests.factories import make_staff

pytestmark = pytest.mark.django_db


def _post(key: str, at: datetime, amount: int, memo: str = "Charge") -> None:
    journal_post(
        source_kind="payment.charge",
        source_key=key,
        occurred_at=at,
        currency="BRL",
        lines=[
            debit("provider_clearing", amount),
            debit("provider_fees", 99),
            credit("revenue", amount + 99, "Order A-1"),
        ],
        memo=memo,
        provider="stripe",
    )


def _rows(content: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content)))


@pytest.fixture
def journal() -> None:
    _post("1", datetime(2026, 3, 5, 10, tzinfo=UTC), 10_000)
    _post("2", datetime(2026, 4, 2, 10, tzinfo=UTC), 123_456)
    _post("3", datetime(2026, 5, 1, tzinfo=UTC), 1)


def test_generic_csv_columns_and_period_filter(journal: None) -> None:
    finance = make_staff("fin", role="finance")
    out = journal_export(
        fmt="csv", period_from=date(2026, 3, 1), period_to=date(2026, 4, 30), actor=finance
    )
    rows = _rows(out.content)
    assert rows[0] == [
        "date",
        "entry",
        "account_code",
        "account_name",
        "debit",
        "credit",
        "currency",
        "memo",
        "reference",
    ]
    assert rows[1][0] == "2026-03-05" and rows[1][2:7] == [
        "1150",
        "Payment provider clearing",
        "100.00",
        "",
        "BRL",
    ]
    assert rows[3][2:6] == ["4000", "Sales", "", "100.99"]
    assert rows[3][7:] == ["Order A-1", "payment.charge:1"]
    assert rows[4][0] == "2026-04-02" and rows[4][4] == "1234.56"
    assert (out.entries, out.lines, len(rows)) == (2, 6, 7)  # May's entry is not in the range
    debits = sum(Decimal(r[4] or 0) for r in rows[1:])
    credits = sum(Decimal(r[5] or 0) for r in rows[1:])
    assert debits == credits == Decimal("1336.54")
    assert out.filename == "journal-csv-2026-03_2026-04.csv"


@override_settings(ACCOUNTING_XERO_TAX_RATE="No GST")
def test_xero_manual_journal_columns_signed_amounts_one_narration_per_entry(journal: None) -> None:
    out = journal_export(
        fmt="xero", period_from=date(2026, 4, 1), period_to=date(2026, 4, 1), actor=None
    )
    rows = _rows(out.content)
    assert rows[0] == [
        "*Narration",
        "*Date",
        "Description",
        "*AccountCode",
        "*TaxRate",
        "*Amount",
        "TrackingName1",
        "TrackingOption1",
        "TrackingName2",
        "TrackingOption2",
    ]
    body = rows[1:]
    assert [r[3] for r in body] == ["1150", "6100", "4000"]
    assert [r[5] for r in body] == ["1234.56", "0.99", "-1235.55"]
    assert {r[4] for r in body} == {"No GST"} and {r[1] for r in body} == {"02/04/2026"}
    assert len({r[0] for r in body}) == 1 and body[0][0].startswith("Switchboard #")
    by_journal: dict[str, Decimal] = defaultdict(Decimal)
    for r in body:
        by_journal[r[0]] += Decimal(r[5])
    assert set(by_journal.values()) == {Decimal(0)}
    assert out.filename == "journal-xero-2026-04.csv"


def test_quickbooks_journal_entry_columns(journal: None) -> None:
    out = journal_export(
        fmt="quickbooks", period_from=date(2026, 3, 1), period_to=date(2026, 3, 1), actor=None
    )
    rows = _rows(out.content)
    assert rows[0] == [
        "JournalNo",
        "JournalDate",
        "Currency",
        "Memo",
        "AccountName",
        "Debits",
        "Credits",
        "Description",
        "Name",
    ]
    assert [r[4:7] for r in rows[1:]] == [
        ["Payment provider clearing", "100.00", ""],
        ["Payment provider fees", "0.99", ""],
        ["Sales", "", "100.99"],
    ]
    assert {r[1] for r in rows[1:]} == {"03/05/2026"} and {r[2] for r in rows[1:]} == {"BRL"}
    assert len({r[0] for r in rows[1:]}) == 1
    assert rows[1][3] == "Charge [payment.charge:1]"


def test_a_late_fact_shows_its_reference_in_every_format() -> None:
    finance = make_staff("fin", role="finance")
    march = AccountingPeriod.objects.create(month=date(2026, 3, 1))
    accounting_period_close(period=march, closed_by=finance)
    _post("late", datetime(2026, 3, 30, tzinfo=UTC), 500)
    for fmt in ("csv", "xero", "quickbooks"):
        out = journal_export(
            fmt=fmt, period_from=date(2026, 4, 1), period_to=date(2026, 4, 1), actor=finance
        )
        assert "payment.charge:late (late for 2026-03)" in out.content, fmt
        assert out.lines == 3
    assert (
        "late for"
        not in journal_export(
            fmt="csv", period_from=date(2026, 3, 1), period_to=date(2026, 3, 1), actor=finance
        ).content
    )


def test_every_export_is_audited_with_who_format_period_and_lines(journal: None) -> None:
    finance = make_staff("fin", role="finance")
    journal_export(
        fmt="xero", period_from=date(2026, 3, 1), period_to=date(2026, 5, 1), actor=finance
    )
    audit = AuditLogEntry.objects.get(action=AuditLogEntry.Action.EXPORT)
    assert audit.actor == finance
    assert audit.changes == {
        "format": "xero",
        "period_from": "2026-03",
        "period_to": "2026-05",
        "entries": 3,
        "lines": 9,
    }


def test_a_spreadsheet_formula_in_a_memo_is_neutralised() -> None:
    _post("f", datetime(2026, 3, 5, tzinfo=UTC), 100, memo="=HYPERLINK(1)")
    out = journal_export(
        fmt="quickbooks", period_from=date(2026, 3, 1), period_to=date(2026, 3, 1), actor=None
    )
    assert _rows(out.content)[1][3].startswith("'=HYPERLINK")


def test_refused_exports_write_no_audit() -> None:
    with pytest.raises(JournalExportRefused):
        journal_export(
            fmt="pdf", period_from=date(2026, 3, 1), period_to=date(2026, 3, 1), actor=None
        )
    with pytest.raises(JournalExportRefused):
        journal_export(
            fmt="csv", period_from=date(2026, 4, 1), period_to=date(2026, 3, 1), actor=None
        )
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.EXPORT).exists()


def test_major_units_follow_the_currency() -> None:
    assert major(123_456, "BRL") == "1234.56"
    assert major(-5, "USD") == "-0.05"
    assert major(1_500, "JPY") == "1500"


def test_an_export_reads_a_fixed_number_of_queries(
    journal: None, django_assert_max_num_queries: Any
) -> None:
    for n in range(20):
        _post(f"more-{n}", datetime(2026, 3, 6, tzinfo=UTC), 100 + n)
    with django_assert_max_num_queries(6):  # entries, lines, the audit entry (and savepoints)
        out = journal_export(
            fmt="csv", period_from=date(2026, 3, 1), period_to=date(2026, 5, 1), actor=None
        )
    assert out.entries == 23
