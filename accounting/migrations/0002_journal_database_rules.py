"""The journal's double-entry rules, kept by the database itself (SQLite and PostgreSQL).

An entry is inserted unposted, its lines are added, then it is flipped to posted. The triggers
refuse: posting an entry with fewer than two lines or whose debits differ from its credits;
inserting an entry already posted; changing or deleting a posted entry; inserting, changing or
deleting a line of a posted entry; writing an entry into a closed period; changing or deleting a
closed period. Application code (accounting.services.journal_post) checks the same first; these
hold against anything that bypasses it (a raw ORM write, a SQL console)."""

from __future__ import annotations

from typing import Any

from django.db import migrations

ENTRY = "accounting_journalentry"
LINE = "accounting_journalline"
PERIOD = "accounting_accountingperiod"

SQLITE = [
    f"""CREATE TRIGGER accounting_entry_insert BEFORE INSERT ON {ENTRY}
    WHEN NEW.posted OR (SELECT status FROM {PERIOD} WHERE id = NEW.period_id) = 'closed'
    BEGIN SELECT RAISE(ABORT, 'journal: an entry is inserted unposted, into an open period');
    END""",
    f"""CREATE TRIGGER accounting_entry_post BEFORE UPDATE ON {ENTRY}
    WHEN NOT OLD.posted AND NEW.posted AND (
        (SELECT COUNT(*) FROM {LINE} WHERE entry_id = NEW.id) < 2
        OR (SELECT SUM(debit) - SUM(credit) FROM {LINE} WHERE entry_id = NEW.id) != 0)
    BEGIN SELECT RAISE(ABORT,
        'journal: an entry posts only with two or more lines whose debits equal their credits');
    END""",
    f"""CREATE TRIGGER accounting_entry_frozen BEFORE UPDATE ON {ENTRY}
    WHEN OLD.posted
        OR (SELECT status FROM {PERIOD} WHERE id = OLD.period_id) = 'closed'
        OR (SELECT status FROM {PERIOD} WHERE id = NEW.period_id) = 'closed'
    BEGIN SELECT RAISE(ABORT, 'journal: a posted entry, or one in a closed period, never changes');
    END""",
    f"""CREATE TRIGGER accounting_entry_delete BEFORE DELETE ON {ENTRY}
    WHEN OLD.posted
    BEGIN SELECT RAISE(ABORT, 'journal: a posted entry is never deleted');
    END""",
    f"""CREATE TRIGGER accounting_line_insert BEFORE INSERT ON {LINE}
    WHEN (SELECT posted FROM {ENTRY} WHERE id = NEW.entry_id)
    BEGIN SELECT RAISE(ABORT, 'journal: a posted entry takes no more lines');
    END""",
    f"""CREATE TRIGGER accounting_line_update BEFORE UPDATE ON {LINE}
    WHEN (SELECT posted FROM {ENTRY} WHERE id = OLD.entry_id)
        OR (SELECT posted FROM {ENTRY} WHERE id = NEW.entry_id)
    BEGIN SELECT RAISE(ABORT, 'journal: the lines of a posted entry never change');
    END""",
    f"""CREATE TRIGGER accounting_line_delete BEFORE DELETE ON {LINE}
    WHEN (SELECT posted FROM {ENTRY} WHERE id = OLD.entry_id)
    BEGIN SELECT RAISE(ABORT, 'journal: the lines of a posted entry are never deleted');
    END""",
    f"""CREATE TRIGGER accounting_period_closed_update BEFORE UPDATE ON {PERIOD}
    WHEN OLD.status = 'closed'
    BEGIN SELECT RAISE(ABORT, 'journal: a closed period never changes');
    END""",
    f"""CREATE TRIGGER accounting_period_closed_delete BEFORE DELETE ON {PERIOD}
    WHEN OLD.status = 'closed'
    BEGIN SELECT RAISE(ABORT, 'journal: a closed period is never deleted');
    END""",
]
SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "accounting_entry_insert",
        "accounting_entry_post",
        "accounting_entry_frozen",
        "accounting_entry_delete",
        "accounting_line_insert",
        "accounting_line_update",
        "accounting_line_delete",
        "accounting_period_closed_update",
        "accounting_period_closed_delete",
    )
]

# ERRCODE 23514 (check_violation): Django raises IntegrityError, as for a CHECK constraint.
POSTGRESQL = [
    f"""CREATE FUNCTION accounting_entry_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line_count integer;
    balance bigint;
    period_status text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.posted THEN
            RAISE EXCEPTION 'journal: a posted entry is never deleted'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' AND NEW.posted THEN
        RAISE EXCEPTION 'journal: an entry is inserted unposted' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.posted THEN
        RAISE EXCEPTION 'journal: a posted entry never changes' USING ERRCODE = 'check_violation';
    END IF;
    -- FOR SHARE: closing the period waits for this transaction, and this one for a close.
    SELECT status INTO period_status FROM {PERIOD} WHERE id = NEW.period_id FOR SHARE;
    IF period_status = 'closed' THEN
        RAISE EXCEPTION 'journal: the period is closed' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        SELECT status INTO period_status FROM {PERIOD} WHERE id = OLD.period_id FOR SHARE;
        IF period_status = 'closed' THEN
            RAISE EXCEPTION 'journal: the period is closed' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.posted AND NOT OLD.posted THEN
        SELECT count(*), coalesce(sum(debit - credit), 0) INTO line_count, balance
            FROM {LINE} WHERE entry_id = NEW.id;
        IF line_count < 2 OR balance <> 0 THEN
            RAISE EXCEPTION
                'journal: an entry posts only with two or more lines whose debits equal '
                'their credits (% lines, off by %)', line_count, balance
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END $$""",
    f"""CREATE TRIGGER accounting_entry_guard BEFORE INSERT OR UPDATE OR DELETE ON {ENTRY}
    FOR EACH ROW EXECUTE FUNCTION accounting_entry_guard()""",
    f"""CREATE FUNCTION accounting_line_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE')
        AND EXISTS (SELECT 1 FROM {ENTRY} WHERE id = OLD.entry_id AND posted FOR SHARE) THEN
        RAISE EXCEPTION 'journal: the lines of a posted entry never change'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE')
        AND EXISTS (SELECT 1 FROM {ENTRY} WHERE id = NEW.entry_id AND posted FOR SHARE) THEN
        RAISE EXCEPTION 'journal: a posted entry takes no more lines'
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$""",
    f"""CREATE TRIGGER accounting_line_guard BEFORE INSERT OR UPDATE OR DELETE ON {LINE}
    FOR EACH ROW EXECUTE FUNCTION accounting_line_guard()""",
    """CREATE FUNCTION accounting_period_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'closed' THEN
        RAISE EXCEPTION 'journal: a closed period never changes' USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$""",
    f"""CREATE TRIGGER accounting_period_guard BEFORE UPDATE OR DELETE ON {PERIOD}
    FOR EACH ROW EXECUTE FUNCTION accounting_period_guard()""",
]
POSTGRESQL_DROP = [
    f"DROP TRIGGER IF EXISTS accounting_entry_guard ON {ENTRY}",
    f"DROP TRIGGER IF EXISTS accounting_line_guard ON {LINE}",
    f"DROP TRIGGER IF EXISTS accounting_period_guard ON {PERIOD}",
    "DROP FUNCTION IF EXISTS accounting_entry_guard()",
    "DROP FUNCTION IF EXISTS accounting_line_guard()",
    "DROP FUNCTION IF EXISTS accounting_period_guard()",
]
STATEMENTS = {"sqlite": (SQLITE, SQLITE_DROP), "postgresql": (POSTGRESQL, POSTGRESQL_DROP)}


def _run(schema_editor: Any, forwards: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise NotImplementedError(f"No journal triggers for the {vendor} database.")
    create, drop = STATEMENTS[vendor]
    for statement in create if forwards else drop:
        schema_editor.execute(statement, params=None)


def install(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, forwards=True)


def uninstall(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, forwards=False)


class Migration(migrations.Migration):
    dependencies = [("accounting", "0001_journal_periods_entries_lines")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
