"""Import a provider's settlement lines and payouts:
``manage.py settlements_import --provider stripe|asaas [--since 2026-01-01]``.

Idempotent (lines are stored once by provider and line id) and resumable: an interrupted run
leaves its cursor, and the next run, with or without ``--since``, carries on from there. Without
``--since`` a run starts a little before the newest line the last run saw. A progress bar is drawn
on stderr (the provider's total when it gives one: Asaas does, Stripe does not).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.management.options import ProgressBar, aware_datetime_option
from payments.settlements.workflows import IMPORTERS, settlements_import


class CountingBar:
    """``stripe payouts  1,234 lines  3.1 s`` when the provider does not say how many there are;
    the project's ProgressBar when it does."""

    def __init__(self, provider: str, stream: OutputWrapper) -> None:
        self.provider, self.stream = provider, stream
        self.started = time.monotonic()
        self.bars: dict[str, ProgressBar] = {}
        self.kind = ""

    def __call__(self, kind: str, done: int, total: int | None) -> None:
        if self.kind and kind != self.kind:
            self.stream.write("")
        self.kind = kind
        if total is not None:
            if kind not in self.bars:
                self.bars[kind] = ProgressBar(kind[:10], total, self.stream)
            self.bars[kind].update(done)
            return
        self.stream.write(
            f"\r{self.provider} {kind:<22} {done:>9,} {time.monotonic() - self.started:6.1f} s",
            ending="",
        )
        self.stream.flush()


class Command(BaseCommand):
    help = "Import settlement lines and payouts from a provider (stored once; resumable)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, choices=sorted(IMPORTERS))
        parser.add_argument(
            "--since", help="Lines booked at or after this (ISO 8601); an unfinished run wins."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        provider = options["provider"]
        since = aware_datetime_option(options["since"], "--since") if options["since"] else None
        bar = CountingBar(provider, self.stderr)
        try:
            result = settlements_import(provider, since=since, progress=bar)
        except (ProviderUnavailable, ProviderRejected) as exc:
            self.stderr.write("")
            raise CommandError(
                f"{exc}. What was stored is kept; run the command again to carry on."
            ) from None
        self.stderr.write("")
        self.stdout.write(
            f"{provider}: {result.lines_created} new settlement lines of {result.lines_seen} "
            f"read, {result.lines_linked} linked to a payout, {result.payouts_created} new "
            f"payouts of {result.payouts_seen} read, {result.pages} pages."
        )
