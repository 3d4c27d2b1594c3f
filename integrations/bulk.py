"""Multi-row INSERTs for ingestion paths that write hundreds of rows per request.

``bulk_create`` prepares every value through the field's full ``get_db_prep_save`` chain and
costs more in Python than the INSERT itself costs the database; ``insert_rows`` adapts each
column once by its field type (datetimes, JSON, the rest through the field) and sends one
statement per chunk. The SQL (``ON CONFLICT DO NOTHING``, ``RETURNING``) is the same on SQLite
(3.35+) and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, models

_MAX_PARAMS = 900  # under SQLite's historical 999-variable limit, as Django's bulk_create


def datetime_adapter() -> Callable[[datetime | None], Any]:
    """What the database takes for an aware datetime. On SQLite with time zones on, Django
    stores ``str()`` of the UTC time without its offset; this does the same without Django's
    per-value checks (a batch adapts tens of thousands)."""
    ops = connection.ops
    if connection.vendor != "sqlite" or not settings.USE_TZ or connection.timezone_name != "UTC":
        return ops.adapt_datetimefield_value

    def adapt(value: datetime | None) -> Any:
        if value is None or value.tzinfo is None:
            return ops.adapt_datetimefield_value(value)
        return str(value.astimezone(UTC).replace(tzinfo=None))

    return adapt


def _adapter(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        return datetime_adapter()
    if isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: ops.adapt_json_value(value, encoder)
    if isinstance(field, models.CharField | models.IntegerField | models.ForeignKey):
        return lambda value: value
    return lambda value: field.get_db_prep_save(value, connection)


def insert_rows(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
    returning_pk: bool = False,
) -> list[Any]:
    """INSERT ``rows`` (values in ``columns`` order, by field name) into ``model``'s table; the
    new primary keys in row order when ``returning_pk``. Runs in the caller's transaction."""
    if not rows:
        return []
    opts = model._meta
    fields: list[Any] = [opts.get_field(name) for name in columns]
    adapters = [_adapter(field) for field in fields]
    quote = connection.ops.quote_name
    column_sql = ", ".join(quote(field.column) for field in fields)
    suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if returning_pk:
        suffix += f" RETURNING {quote(opts.pk.column)}"
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    per_statement = max(1, _MAX_PARAMS // len(fields))
    head = f"INSERT INTO {quote(opts.db_table)} ({column_sql}) VALUES "  # noqa: S608 - names from metadata  # nosec B608  # table and column names from model metadata, quoted; values bound
    pks: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = [
                adapt(value) for row in chunk for adapt, value in zip(adapters, row, strict=True)
            ]
            cursor.execute(head + ", ".join([one] * len(chunk)) + suffix, params)
            if returning_pk:
                pks.extend(row[0] for row in cursor.fetchall())
    return pks
