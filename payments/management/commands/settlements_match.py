"""Match settlement lines to payments, refunds, disputes and payouts and flag what does not fit:
``manage.py settlements_match [--provider stripe] [--since 2026-01-01]``.

Idempotent: each line, payment, refund, dispute and payout is matched at most once and each
exception made once, so a re-run with nothing new imported changes nothing. The daily settlement
import runs it after importing (payments.settlements.tasks.import_daily).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from integrations.management.options import aware_datetime_option
from payments.settlements.engine import settlements_match


class Command(BaseCommand):
    help = "Match settlement lines (provider ids, then the matching rules) and flag exceptions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", help="Only this provider's lines (stripe, asaas...).")
        parser.add_argument(
            "--since", help="Provider-id pass: only lines booked at or after this (ISO 8601)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = aware_datetime_option(options["since"], "--since") if options["since"] else None

        def progress(name: str, seconds: float) -> None:
            self.stderr.write(f"{name:<12} done in {seconds:6.2f} s")

        result = settlements_match(
            provider=options["provider"] or None, since=since, progress=progress
        )
        self.stdout.write(result.summary())
