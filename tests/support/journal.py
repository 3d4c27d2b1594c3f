"""Emptying the journal between transactional tests.

The database refuses deleting posted journal entries, their lines and closed periods
(accounting migration 0002). Django empties the database after a transactional test with
``DELETE FROM`` each table on SQLite, which those triggers refuse; PostgreSQL's ``TRUNCATE``
fires no row trigger. So on SQLite the journal's rows are deleted first with the triggers
lifted for that moment, then the triggers are put back, exactly as the migration defines them."""

from __future__ import annotations

import importlib

from django.db import connection

_rules = importlib.import_module("accounting.migrations.0002_journal_database_rules")
# Children first; fixed names, nothing from outside.
DELETES = (
    "DELETE FROM accounting_journalline",
    "DELETE FROM accounting_journalentry",
    "DELETE FROM accounting_accountingperiod",
)


def journal_wipe() -> None:
    """Delete every journal line, entry and period, whatever the triggers say (SQLite)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM accounting_accountingperiod)")
        if not cursor.fetchone()[0]:
            return
        for statement in _rules.SQLITE_DROP:
            cursor.execute(statement)
        try:
            for statement in DELETES:
                cursor.execute(statement)
        finally:
            for statement in _rules.SQLITE:
                cursor.execute(statement)
