"""The journal as files an accountant imports (docs/accounting.md, "Exports"): a generic CSV,
Xero's manual journal import CSV and QuickBooks Online's journal entry import CSV, for the
posted entries of a range of periods. Every export is audited (who, format, periods, lines)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch, QuerySet

from accounting.exceptions import JournalExportRefused
from accounting.models import JournalEntry, JournalLine
from accounts.access.audit import audit_record
from accounts.models import AuditLogEntry
from integrations.money import minor_unit_exponent

GENERIC, XERO, QUICKBOOKS = "csv", "xero", "quickbooks"
FORMAT_CHOICES = [
    (GENERIC, "Journal CSV (generic)"),
    (XERO, "Xero manual journal import (CSV)"),
    (QUICKBOOKS, "QuickBooks Online journal entry import (CSV)"),
]
GENERIC_HEADER = [
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
# Xero's manual journal import template (Adviser > Manual Journals > Import): the starred
# columns are mandatory; Amount is positive for a debit, negative for a credit; rows with the
# same Narration and Date are one journal.
XERO_HEADER = [
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
# QuickBooks Online (Settings > Import data > Journal entries): rows with the same JournalNo
# are one entry; accounts are matched by name; Currency matters with multicurrency on.
QUICKBOOKS_HEADER = [
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


@dataclass(frozen=True)
class JournalFile:
    filename: str
    content: str
    entries: int
    lines: int


def major(amount: int, currency: str) -> str:
    """Minor units as a plain decimal in major units (``12345`` BRL -> ``123.45``), no
    thousands separator: what import tools read."""
    exponent = minor_unit_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def _text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (order numbers, memos come from
    outside): a leading = + - @ or control character is quoted with an apostrophe."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def posted_entries(period_from: date, period_to: date) -> QuerySet[JournalEntry]:
    """The posted entries of the periods ``period_from``..``period_to`` (months, inclusive),
    in booking order, with their lines: two queries whatever the count."""
    return (
        JournalEntry.objects.filter(
            posted=True,
            period__month__gte=period_from.replace(day=1),
            period__month__lte=period_to.replace(day=1),
        )
        .select_related("late_for")
        .prefetch_related(Prefetch("lines", queryset=JournalLine.objects.order_by("id")))
        .order_by("entry_date", "id")
    )


def _narration(entry: JournalEntry) -> str:
    return f"Switchboard #{entry.pk}: {entry.memo} [{entry.reference}]"


def _generic(entries: Iterable[JournalEntry]) -> Iterable[list[str]]:
    yield GENERIC_HEADER
    for entry in entries:
        for line in entry.lines.all():
            yield [
                f"{entry.entry_date:%Y-%m-%d}",
                str(entry.pk),
                line.account_code,
                _text(line.account_name),
                major(line.debit, entry.currency) if line.debit else "",
                major(line.credit, entry.currency) if line.credit else "",
                entry.currency,
                _text(line.memo or entry.memo),
                _text(entry.reference),
            ]


def _xero(entries: Iterable[JournalEntry]) -> Iterable[list[str]]:
    yield XERO_HEADER
    tax_rate = settings.ACCOUNTING_XERO_TAX_RATE
    for entry in entries:
        for line in entry.lines.all():
            yield [
                _text(_narration(entry)),
                f"{entry.entry_date:%d/%m/%Y}",
                _text(line.memo or line.account_name),
                line.account_code,
                tax_rate,
                major(line.debit - line.credit, entry.currency),
                "",
                "",
                "",
                "",
            ]


def _quickbooks(entries: Iterable[JournalEntry]) -> Iterable[list[str]]:
    yield QUICKBOOKS_HEADER
    date_format = settings.ACCOUNTING_QUICKBOOKS_DATE_FORMAT
    for entry in entries:
        for line in entry.lines.all():
            yield [
                str(entry.pk),
                entry.entry_date.strftime(date_format),
                entry.currency,
                _text(f"{entry.memo} [{entry.reference}]"),
                _text(line.account_name),
                major(line.debit, entry.currency) if line.debit else "",
                major(line.credit, entry.currency) if line.credit else "",
                _text(line.memo),
                "",
            ]


WRITERS: dict[str, Callable[[Iterable[JournalEntry]], Iterable[list[str]]]] = {
    GENERIC: _generic,
    XERO: _xero,
    QUICKBOOKS: _quickbooks,
}


def journal_export(
    *,
    fmt: str,
    period_from: date,
    period_to: date,
    actor: Any,
    request: Any = None,
) -> JournalFile:
    """The posted entries of the periods ``period_from``..``period_to`` (any day of each month)
    in ``fmt`` (csv, xero, quickbooks), and an audit entry saying who exported what. Raises
    JournalExportRefused for an unknown format or a range that ends before it starts."""
    if fmt not in WRITERS:
        raise JournalExportRefused(f"Unknown journal export format {fmt!r}.")
    if period_to.replace(day=1) < period_from.replace(day=1):
        raise JournalExportRefused("The period range ends before it starts.")
    entries = list(posted_entries(period_from, period_to))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = 0
    for row in WRITERS[fmt](entries):
        writer.writerow(row)
        rows += 1
    lines = rows - 1
    first, last = f"{period_from:%Y-%m}", f"{period_to:%Y-%m}"
    span = first if first == last else f"{first}_{last}"
    with transaction.atomic():
        audit_record(
            action=AuditLogEntry.Action.EXPORT,
            actor=actor,
            changes={
                "format": fmt,
                "period_from": first,
                "period_to": last,
                "entries": len(entries),
                "lines": lines,
            },
            summary=f"Journal exported ({fmt}), periods {first} to {last}: {len(entries)} "
            f"entries, {lines} lines",
            request=request,
        )
    return JournalFile(
        filename=f"journal-{fmt}-{span}.csv",
        content=buffer.getvalue(),
        entries=len(entries),
        lines=lines,
    )
