"""Refusals of the accounting journal (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class JournalNotBalanced(SwitchboardError):
    """An entry whose debits and credits differ, with fewer than two lines, or a line that is
    not exactly one positive side. Nothing was written."""

    code = "journal_not_balanced"
    http_status = 422
    title = "Journal entry does not balance"


class UnknownAccount(SwitchboardError):
    """A line names an account role the chart (ACCOUNTING_ACCOUNTS) does not have."""

    code = "unknown_account"
    http_status = 422
    title = "Unknown account"


class PeriodClosed(SwitchboardError):
    """A write into an accounting period that is closed (or closing a period twice)."""

    code = "period_closed"
    http_status = 409
    title = "Accounting period closed"


class JournalExportRefused(SwitchboardError):
    """An export asked for an unknown format or a period range that ends before it starts."""

    code = "journal_export_refused"
    http_status = 400
    title = "Journal export refused"
