"""Writes of the accounting journal: posting an entry (``journal_post``), the write-off of a
reconciliation exception, and closing a period. See docs/accounting.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounting.chart import PROVIDER_CLEARING, account, account_by_code
from accounting.exceptions import JournalNotBalanced, PeriodClosed, UnknownAccount
from accounting.models import AccountingPeriod, JournalEntry, JournalLine
from accounts.access.audit import audit_record
from accounts.models import AuditLogEntry


@dataclass(frozen=True)
class Line:
    """One line to post: an account role and a signed amount (minor units; positive debits,
    negative credits)."""

    role: str
    amount: int
    memo: str = ""


def debit(role: str, amount: int, memo: str = "") -> Line:
    return Line(role, amount, memo)


def credit(role: str, amount: int, memo: str = "") -> Line:
    return Line(role, -amount, memo)


def month_of(moment: datetime) -> date:
    """The first day of ``moment``'s month in UTC."""
    return moment.astimezone(UTC).date().replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_start(month: date) -> datetime:
    return datetime.combine(month, time.min, tzinfo=UTC)


def accounting_period_get(month: date) -> AccountingPeriod:
    """The period of ``month`` (any day of it), created open when it does not exist yet."""
    period, _ = AccountingPeriod.objects.get_or_create(month=month.replace(day=1))
    return period


def accounting_period_for(
    occurred_at: datetime,
) -> tuple[AccountingPeriod, AccountingPeriod | None]:
    """Where a fact of ``occurred_at`` posts: its own month's period when open, else the first
    open period after it, with the closed one it is late for."""
    natural = accounting_period_get(month_of(occurred_at))
    if natural.status == AccountingPeriod.Status.OPEN:
        return natural, None
    month = next_month(natural.month)
    while True:
        period = accounting_period_get(month)
        if period.status == AccountingPeriod.Status.OPEN:
            return period, natural
        month = next_month(month)


def _checked(lines: Sequence[Line]) -> list[Line]:
    kept = [line for line in lines if line.amount != 0]
    if len(kept) < 2:
        raise JournalNotBalanced(f"An entry needs at least two non-zero lines ({len(kept)} given).")
    total = sum(line.amount for line in kept)
    if total != 0:
        raise JournalNotBalanced(f"Debits and credits differ by {total} (minor units).")
    return kept


def journal_post(
    *,
    source_kind: str,
    source_key: str,
    occurred_at: datetime,
    currency: str,
    lines: Sequence[Line],
    memo: str,
    provider: str = "",
    provider_ref: str = "",
    reverses: JournalEntry | None = None,
) -> tuple[JournalEntry, bool]:
    """Post one money fact as a balanced entry, once: the entry of (``source_kind``,
    ``source_key``) is returned as it is when it exists (``created`` False), whatever the other
    arguments say now. Zero lines are left out. The entry goes into the period of
    ``occurred_at``'s month, or, that period being closed, into the first open period after it
    with ``late_for`` naming the closed one (booked on that period's first day).

    Raises JournalNotBalanced or UnknownAccount (nothing written). The database refuses the
    same (see accounting.models) should anything bypass this function."""
    if timezone.is_naive(occurred_at):
        raise JournalNotBalanced("A journal entry's time must be aware (UTC).")
    kept = _checked(lines)
    accounts = {line.role: account(line.role) for line in kept}
    existing = JournalEntry.objects.filter(source_kind=source_kind, source_key=source_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            period, late_for = accounting_period_for(occurred_at)
            # Locks the period: closing it waits for this entry (and the database refuses
            # an entry in a closed period anyway).
            AccountingPeriod.objects.select_for_update().filter(pk=period.pk).first()
            entry_date = max(occurred_at, month_start(period.month))
            entry = JournalEntry.objects.create(
                period=period,
                late_for=late_for,
                entry_date=entry_date,
                occurred_at=occurred_at,
                source_kind=source_kind,
                source_key=source_key,
                provider=provider,
                provider_ref=provider_ref[:160],
                currency=currency.upper(),
                memo=memo[:300],
                reverses=reverses,
            )
            JournalLine.objects.bulk_create(
                JournalLine(
                    entry=entry,
                    account_role=line.role,
                    account_code=accounts[line.role].code,
                    account_name=accounts[line.role].name,
                    debit=max(line.amount, 0),
                    credit=max(-line.amount, 0),
                    memo=line.memo[:300],
                )
                for line in kept
            )
            JournalEntry.objects.filter(pk=entry.pk).update(posted=True)
            entry.posted = True
            return entry, True
    except IntegrityError:
        # Posted meanwhile by another worker (the unique source): that entry stands.
        existing = JournalEntry.objects.filter(
            source_kind=source_kind, source_key=source_key
        ).first()
        if existing is None:
            raise
        return existing, False


def journal_post_write_off(
    *,
    exception_id: int,
    account: str,
    amount: int,
    currency: str,
    provider: str,
    occurred_at: datetime,
) -> tuple[JournalEntry, bool]:
    """A reconciliation exception resolved as a write-off: Dr ``account`` (a code of the
    chart), Cr provider clearing, for ``amount`` minor units (positive: money we were owed and
    lose; negative: money we hold and keep, posted the other way round). Once per exception.
    Raises UnknownAccount for a code the chart does not have, JournalNotBalanced for 0."""
    found = account_by_code(account)
    if found is None:
        raise UnknownAccount(f"No account with code {account!r} in the chart of accounts.")
    return journal_post(
        source_kind=JournalEntry.SourceKind.WRITE_OFF,
        source_key=str(exception_id),
        occurred_at=occurred_at,
        currency=currency,
        lines=[
            debit(found.role, amount, f"Write-off, reconciliation exception {exception_id}"),
            credit(PROVIDER_CLEARING, amount),
        ],
        memo=f"Write-off of reconciliation exception #{exception_id} ({provider})",
        provider=provider,
    )


def accounting_period_close(*, period: AccountingPeriod, closed_by: Any) -> AccountingPeriod:
    """Close ``period``: from now on nothing in it changes and late facts post to the next open
    period. Audited. Raises PeriodClosed when it is closed already."""
    with transaction.atomic():
        period = AccountingPeriod.objects.select_for_update().get(pk=period.pk)
        if period.status == AccountingPeriod.Status.CLOSED:
            raise PeriodClosed(f"The period {period.label} is closed already.")
        period.status = AccountingPeriod.Status.CLOSED
        period.closed_by = closed_by
        period.closed_at = timezone.now()
        period.save(update_fields=["status", "closed_by", "closed_at"])
        entries = JournalEntry.objects.filter(period=period).count()
        audit_record(
            action=AuditLogEntry.Action.ADMIN_CHANGE,
            actor=closed_by,
            obj=period,
            changes={"status": ["open", "closed"]},
            summary=f"Accounting period {period.label} closed ({entries} entries).",
        )
    return period
