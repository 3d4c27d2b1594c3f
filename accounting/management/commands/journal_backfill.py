"""``manage.py journal_backfill``: post every existing money fact to the journal, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounting.backfill import journal_backfill
from integrations.management.options import ProgressBar


class Command(BaseCommand):
    help = (
        "Post every succeeded payment (charge, fee, split), succeeded refund, dispute and paid "
        "payout that has no journal entry yet. Idempotent: a second run posts nothing."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        bar: ProgressBar | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = ProgressBar("journal", total, self.stderr)
            bar.update(done)

        result = journal_backfill(progress=progress)
        if bar is not None:
            bar.update(sum(result.facts.values()), end="\n")
        facts = ", ".join(f"{count} {name}" for name, count in result.facts.items())
        self.stdout.write(f"Journal backfill: {result.posted} new entries ({facts} to post).")
