"""Periodic work of the journal (registered by migrate: integrations/schedules.py)."""

from __future__ import annotations

from accounting.backfill import journal_backfill


def journal_sweep() -> int:
    """Post every fact that has no entry yet (fees reported after the payment event, payouts
    imported as paid); returns how many entries were written."""
    return journal_backfill().posted
