# ruff: noqa: S608 - identifiers come from model metadata, quoted; values are always parameters
"""The send policy's hot reads and its one write, as plain SQL.

A decision runs before every message, so it must cost well under the 2 ms the issue allows at
p99. Profiling the ORM version showed four fifths of a decision spent compiling querysets (the
database answered each indexed look-up in tens of microseconds), so the few statements a
decision makes are written here once, against the models' own table and column names, with
datetimes adapted by the connection's own operations: the same SQL runs on SQLite and
PostgreSQL. What they read is exactly what the ORM selectors in ``notifications.consent`` and
``notifications.policy.selectors`` read (tests compare them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.db import connection, models, transaction
from django.utils.dateparse import parse_datetime

from accounts.models import Customer
from notifications.models import ConsentRecord, EmailSuppression
from notifications.policy.models import NotificationPreference, RateLimitCharge, WhatsAppInbound


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _col(model: type[models.Model], field: str) -> str:
    column = model._meta.get_field(field).column  # type: ignore[union-attr]
    assert isinstance(column, str)
    return connection.ops.quote_name(column)


def _at(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return tuple(row) if row is not None else None


# Every statement below is built from the models' own table and column names, quoted by the
# connection; values are always parameters (ruff's S608 is about values, which never go in).
@cache
def _statements(vendor: str) -> dict[str, str]:
    """The statements, built once per database vendor (table names never change at run time)."""
    c, p, s, w, r = (
        ConsentRecord,
        NotificationPreference,
        EmailSuppression,
        WhatsAppInbound,
        (RateLimitCharge),
    )
    return {
        "consent": (
            f"SELECT {_col(c, 'action')}, {_col(c, 'occurred_at')}, {_col(c, 'source')} "  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
            f"FROM {_table(c)} WHERE {_col(c, 'customer')} = %s AND {_col(c, 'channel')} = %s "
            f"ORDER BY {_col(c, 'occurred_at')} DESC, {_col(c, 'id')} DESC LIMIT 1"
        ),
        "preference": (
            f"SELECT {_col(p, 'allowed')} FROM {_table(p)} WHERE {_col(p, 'customer')} = %s "  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
            f"AND {_col(p, 'category')} = %s AND {_col(p, 'channel')} = %s "
            f"ORDER BY {_col(p, 'set_at')} DESC, {_col(p, 'id')} DESC LIMIT 1"
        ),
        "suppression": (
            f"SELECT {_col(s, 'reason')}, {_col(s, 'created_at')} FROM {_table(s)} "  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
            f"WHERE {_col(s, 'address')} = %s AND {_col(s, 'cleared_at')} IS NULL LIMIT 1"
        ),
        "inbound": (
            f"SELECT {_col(w, 'received_at')} FROM {_table(w)} WHERE {_col(w, 'customer')} = %s "  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
            f"AND {_col(w, 'provider')} = %s ORDER BY {_col(w, 'received_at')} DESC LIMIT 1"
        ),
        "lock_customer": (
            f"SELECT 1 FROM {_table(Customer)} WHERE {_col(Customer, 'id')} = %s FOR UPDATE"  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
        ),
        "charge": (
            f"INSERT INTO {_table(r)} ({_col(r, 'customer')}, {_col(r, 'notification')}, "  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
            f"{_col(r, 'charged_at')}) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
        ),
    }


def consent_now(*, customer_id: int, channel: str) -> tuple[str, datetime, str] | None:
    """(action, occurred_at, source) of the newest consent decision, or None."""
    row = _one(_statements(connection.vendor)["consent"], [customer_id, channel])
    if row is None:
        return None
    occurred_at = _datetime(row[1])
    assert occurred_at is not None
    return str(row[0]), occurred_at, str(row[2])


def preference_now(*, customer_id: int, category: str, channel: str) -> bool:
    """The customer's current preference for ``category`` on ``channel``; allowed when never
    said."""
    row = _one(_statements(connection.vendor)["preference"], [customer_id, category, channel])
    return row is None or bool(row[0])


def suppression_now(*, address: str) -> tuple[str, datetime] | None:
    """(reason, created_at) of the address's active e-mail suppression, or None."""
    row = _one(_statements(connection.vendor)["suppression"], [address.strip().lower()])
    if row is None:
        return None
    created_at = _datetime(row[1])
    assert created_at is not None
    return str(row[0]), created_at


def last_inbound_at(*, customer_id: int, provider: str) -> datetime | None:
    """When the customer last wrote to us on WhatsApp through ``provider``."""
    row = _one(_statements(connection.vendor)["inbound"], [customer_id, provider])
    return _datetime(row[0]) if row is not None else None


def charge_or_count(
    *,
    customer_id: int,
    notification_id: int,
    now: datetime,
    limits: Sequence[tuple[timedelta, int, str]],
) -> tuple[str, int, int] | None:
    """Charge the notification against its customer's rate limits, or say which limit it would
    break: None when charged (or already charged: a retry of its send), else (window word,
    messages in that window, limit). Under the customer's row lock (PostgreSQL: FOR UPDATE;
    SQLite: the write transaction), so the count and the charge are one step across workers."""
    r = RateLimitCharge
    statements = _statements(connection.vendor)
    longest = max(window for window, _, _ in limits)
    windows = ", ".join(
        f"COALESCE(SUM(CASE WHEN {_col(r, 'charged_at')} > %s THEN 1 ELSE 0 END), 0)"
        for _ in limits
    )
    count = (
        f"SELECT COALESCE(SUM(CASE WHEN {_col(r, 'notification')} = %s THEN 1 ELSE 0 END), 0), "  # nosec B608  # names from model metadata (_table/_col, quoted); values bound
        f"{windows} FROM {_table(r)} WHERE {_col(r, 'customer')} = %s "
        f"AND {_col(r, 'charged_at')} > %s"
    )
    params = [notification_id, *(_at(now - window) for window, _, _ in limits)]
    with transaction.atomic():
        if connection.features.has_select_for_update:
            _one(statements["lock_customer"], [customer_id])
        row = _one(count, [*params, customer_id, _at(now - longest)]) or (0,)
        if int(row[0]):
            return None
        for (_, most, word), seen in zip(limits, row[1:], strict=True):
            if int(seen) >= most:
                return word, int(seen), most
        with connection.cursor() as cursor:
            cursor.execute(statements["charge"], [customer_id, notification_id, _at(now)])
    return None
