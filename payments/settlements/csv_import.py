"""A CSV statement (a bank account, another PSP) read with a saved ``CsvColumnMapping``.

All or nothing: every row is read first; any unreadable row refuses the whole file with the row
numbers named (the header is row 1), and only a clean file is stored, in one transaction. Amounts
are major units as the statement writes them (``1.234,56`` with the comma mapping, ``-10.00`` a
debit, ``(10.00)`` too) and become exact minor units through ``integrations.money.parse_money``;
dates are calendar days in ``date_format``, stored as the aware UTC midnight of that day (a bank
day has no time). A row without a line-id column gets a stable id: a hash of its cells and of how
many identical rows came before it in the file, so the same file imported again adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime

from integrations.money import CURRENCY_CHOICES, InvalidMoney, parse_money
from payments.exceptions import SettlementCsvInvalid
from payments.settlements.models import CsvColumnMapping, SettlementKind, SettlementLine
from payments.settlements.services import Stored, settlement_lines_store

MAX_ROWS = 50_000
KNOWN_CURRENCIES = {code for code, _ in CURRENCY_CHOICES}


def parse_statement_amount(text: str, currency: str, decimal_separator: str) -> int:
    """``"-1.234,56"`` with the comma separator -> ``-123456`` (BRL). Raises InvalidMoney."""
    raw = text.strip()
    negative = False
    if raw.startswith("(") and raw.endswith(")"):
        negative, raw = True, raw[1:-1].strip()
    if raw.startswith("-") or raw.endswith("-"):
        negative, raw = True, raw.strip("-").strip()
    elif raw.startswith("+"):
        raw = raw[1:].strip()
    thousands = "." if decimal_separator == "," else ","
    minor = parse_money(raw.replace(thousands, "").replace(decimal_separator, "."), currency)
    return -minor if negative else minor


def _read(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Brazilian banks still export Latin-1; every byte decodes, so no row is lost.
        return data.decode("latin-1")


def settlement_csv_lines(mapping: CsvColumnMapping, data: bytes) -> list[SettlementLine]:
    """Every row as an unsaved SettlementLine; SettlementCsvInvalid names each bad row."""
    reader = csv.DictReader(io.StringIO(_read(data), newline=""), delimiter=mapping.delimiter)
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    wanted = {
        "date": mapping.date_column,
        "amount": mapping.amount_column,
        "currency": mapping.currency_column,
        "reference": mapping.reference_column,
        "line id": mapping.line_id_column,
    }
    missing = [
        f"{what} column {col!r}" for what, col in wanted.items() if col and col not in header
    ]
    if not header:
        raise SettlementCsvInvalid(["Row 1: the file is empty (no header row)."])
    if missing:
        raise SettlementCsvInvalid([f"Row 1 (header): no {', no '.join(missing)}."])
    errors: list[str] = []
    lines: list[SettlementLine] = []
    seen_ids: dict[str, int] = {}
    occurrences: dict[str, int] = {}
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            errors.append(f"Row {number}: more than {MAX_ROWS:,} rows; split the file.")
            break
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cells.values()):
            continue  # a blank line
        problems: list[str] = []
        currency = cells.get(mapping.currency_column, "") if mapping.currency_column else ""
        currency = (currency or mapping.fixed_currency).upper()
        if currency not in KNOWN_CURRENCIES:
            problems.append(f"currency {currency or '(empty)'!r} is not one Switchboard knows")
        try:
            day = datetime.strptime(cells.get(mapping.date_column, ""), mapping.date_format)
        except ValueError:
            problems.append(
                f"date {cells.get(mapping.date_column, '')!r} does not match {mapping.date_format}"
            )
            day = None
        amount = 0
        if currency in KNOWN_CURRENCIES:
            try:
                amount = parse_statement_amount(
                    cells.get(mapping.amount_column, ""), currency, mapping.decimal_separator
                )
            except InvalidMoney as exc:
                problems.append(f"amount: {exc}")
        line_id = cells.get(mapping.line_id_column, "") if mapping.line_id_column else ""
        if mapping.line_id_column and not line_id:
            problems.append(f"no line id in {mapping.line_id_column!r}")
        if not mapping.line_id_column:
            content = "\x1f".join(cells.get(c, "") for c in header)
            occurrences[content] = occurrences.get(content, 0) + 1
            digest = hashlib.sha256(f"{content}\x1e{occurrences[content]}".encode()).hexdigest()
            line_id = f"row-{digest[:40]}"
        if line_id in seen_ids and not problems:
            problems.append(f"line id {line_id!r} repeats row {seen_ids[line_id]}")
        seen_ids.setdefault(line_id, number)
        if problems or day is None:
            errors.append(f"Row {number}: {'; '.join(problems)}.")
            continue
        reference = cells.get(mapping.reference_column, "") if mapping.reference_column else ""
        lines.append(
            SettlementLine(
                provider=mapping.provider,
                provider_line_id=line_id[:120],
                kind=SettlementKind.STATEMENT,
                provider_type="csv",
                amount=amount,
                fee=0,
                net=amount,
                currency=currency,
                source_id=reference[:120],
                description=reference[:500],
                created_at=day.replace(tzinfo=UTC),
                raw={"mapping": mapping.name, "row": number, "cells": cells},
            )
        )
    if errors:
        raise SettlementCsvInvalid(errors)
    return lines


def settlement_csv_import(mapping: CsvColumnMapping, data: bytes) -> Stored:
    """Read the whole file, then store its lines once (all or nothing)."""
    return settlement_lines_store(settlement_csv_lines(mapping, data))
