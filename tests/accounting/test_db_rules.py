"""The database itself keeps the journal double-entry (migration 0002's triggers): raw ORM writes
that bypass ``journal_post`` are refused. Runs on SQLite, and on PostgreSQL when DATABASE_URL
points there (CI's scaled profile)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import DatabaseError, IntegrityError, transaction

from accounting.models import AccountingPeriod, JournalEntry, JournalLine
from accounting.services import credit, debit, journal_post

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _unposted(period: AccountingPeriod | None = None) -> JournalEntry:
    return JournalEntry.objects.create(
        period=period or AccountingPeriod.objects.get_or_create(month=date(2026, 3, 1))[0],
        entry_date=AT,
        occurred_at=AT,
        source_kind=JournalEntry.SourceKind.CHARGE,
        source_key="raw-1",
        currency="BRL",
        memo="raw",
    )


def _line(entry: JournalEntry, *, debit: int = 0, credit: int = 0) -> JournalLine:
    return JournalLine.objects.create(
        entry=entry,
        account_role="bank",
        account_code="1100",
        account_name="Bank",
        debit=debit,
        credit=credit,
    )


def _refused(write: object) -> None:
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        write()  # type: ignore[operator]


def _posted() -> JournalEntry:
    entry, _ = journal_post(
        source_kind=JournalEntry.SourceKind.PAYOUT,
        source_key="stripe:po_1",
        occurred_at=AT,
        currency="BRL",
        lines=[debit("bank", 900), credit("provider_clearing", 900)],
        memo="payout",
    )
    return entry


def test_an_unbalanced_entry_cannot_be_posted_by_a_raw_write() -> None:
    entry = _unposted()
    _line(entry, debit=1_000)
    _line(entry, credit=999)
    _refused(lambda: JournalEntry.objects.filter(pk=entry.pk).update(posted=True))
    entry.refresh_from_db()
    assert entry.posted is False


def test_an_entry_with_one_line_cannot_be_posted() -> None:
    entry = _unposted()
    _line(entry, debit=1_000)
    _refused(lambda: JournalEntry.objects.filter(pk=entry.pk).update(posted=True))
    _line(entry, credit=1_000)
    JournalEntry.objects.filter(pk=entry.pk).update(posted=True)  # balanced: accepted
    assert JournalEntry.objects.get(pk=entry.pk).posted is True


def test_an_entry_cannot_be_inserted_already_posted() -> None:
    period = AccountingPeriod.objects.create(month=date(2026, 3, 1))
    _refused(
        lambda: JournalEntry.objects.create(
            period=period,
            entry_date=AT,
            occurred_at=AT,
            source_kind="payout",
            source_key="x",
            currency="BRL",
            memo="x",
            posted=True,
        )
    )
    assert not JournalEntry.objects.exists()


def test_a_line_is_one_positive_side() -> None:
    entry = _unposted()
    _refused(lambda: _line(entry, debit=100, credit=100))
    _refused(lambda: _line(entry, debit=0, credit=0))
    _refused(lambda: _line(entry, debit=-100))
    assert not entry.lines.exists()


def test_a_posted_entry_and_its_lines_never_change() -> None:
    entry = _posted()
    line = entry.lines.get(account_role="bank")
    _refused(lambda: JournalLine.objects.filter(pk=line.pk).update(debit=901))
    _refused(lambda: _line(entry, debit=5))
    _refused(lambda: JournalLine.objects.filter(pk=line.pk).delete())
    _refused(lambda: JournalEntry.objects.filter(pk=entry.pk).update(memo="edited"))
    _refused(lambda: JournalEntry.objects.filter(pk=entry.pk).update(posted=False))
    _refused(lambda: JournalEntry.objects.filter(pk=entry.pk).delete())
    assert [(x.debit, x.credit) for x in entry.lines.order_by("id")] == [(900, 0), (0, 900)]
    assert JournalEntry.objects.get(pk=entry.pk).memo == "payout"


def test_a_closed_period_takes_no_entry_and_never_reopens() -> None:
    period = AccountingPeriod.objects.create(month=date(2026, 3, 1), status="closed", closed_at=AT)
    _refused(lambda: _unposted(period))
    _refused(lambda: AccountingPeriod.objects.filter(pk=period.pk).update(status="open"))
    _refused(lambda: AccountingPeriod.objects.filter(pk=period.pk).delete())
    assert AccountingPeriod.objects.get(pk=period.pk).status == "closed"
    assert not JournalEntry.objects.exists()


def test_an_entry_cannot_be_moved_into_a_closed_period() -> None:
    entry = _unposted()
    closed = AccountingPeriod.objects.create(month=date(2026, 1, 1), status="closed", closed_at=AT)
    _refused(lambda: JournalEntry.objects.filter(pk=entry.pk).update(period=closed))
    assert JournalEntry.objects.get(pk=entry.pk).period_id != closed.pk
