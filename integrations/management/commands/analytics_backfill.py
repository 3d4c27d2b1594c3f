"""Send past domain events to an analytics sink:
``manage.py analytics_backfill --sink warehouse --since 2026-01-01 [--until ...] [--type ...]``.

Idempotent: each event goes with the same id as its live export (Segment's messageId, PostHog's
uuid, the warehouse file name), so a backfill over exported events, or run twice, adds nothing.
Resumable: after each batch the command knows the last event id sent; if a batch fails it says
``--after-id N`` to carry on from there. A progress bar is drawn on stderr.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from integrations.analytics.services import analytics_backfill, backfill_events
from integrations.analytics.sinks import SINKS, get_sink
from integrations.exceptions import ProviderRejected, ProviderUnavailable


def _aware(value: str, option: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        parsed = datetime(day.year, day.month, day.day) if day else None
    if parsed is None:
        raise CommandError(f"{option} must be an ISO 8601 date or date-time, e.g. 2026-01-01.")
    return make_aware(parsed) if is_naive(parsed) else parsed


class ProgressBar:
    """``warehouse [##########....] 52% 1,040/2,000 3.1 s`` on one line, redrawn in place."""

    def __init__(self, label: str, total: int, stream: OutputWrapper) -> None:
        self.label, self.total, self.stream = label, max(total, 1), stream
        self.started = time.monotonic()
        self.update(0)

    def update(self, done: int, end: str = "") -> None:
        share = min(done / self.total, 1.0)
        self.stream.write(
            f"\r{self.label:<10} [{'#' * int(share * 30):<30}] {share:4.0%} "
            f"{done:,}/{self.total:,} {time.monotonic() - self.started:6.1f} s{end}",
            ending="",
        )
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Send past domain events (usage events included) to one analytics sink, with the same "
        "ids as the live export, so nothing is counted twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sink", required=True, choices=sorted(SINKS))
        parser.add_argument("--since", required=True, help="Occurred at or after (ISO 8601).")
        parser.add_argument("--until", help="Occurred before (ISO 8601).")
        parser.add_argument(
            "--type",
            action="append",
            default=[],
            dest="types",
            help="Event type, or kind.* (repeatable); all types when absent.",
        )
        parser.add_argument(
            "--after-id", type=int, default=0, help="Resume after this DomainEvent id."
        )
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args: Any, **options: Any) -> None:
        sink = get_sink(options["sink"])
        if not sink.enabled():
            raise CommandError(f"The {sink.name} sink is off: set its key or directory first.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        since = _aware(options["since"], "--since")
        until = _aware(options["until"], "--until") if options["until"] else None
        events = backfill_events(
            since=since, until=until, types=options["types"], after_id=options["after_id"]
        )
        total = events.count()
        bar = ProgressBar(sink.name, total, self.stderr)
        resume = {"after_id": options["after_id"]}

        def progress(done: int, last_id: int) -> None:
            resume["after_id"] = last_id
            bar.update(done)

        try:
            sent = analytics_backfill(
                sink=sink.name,
                events=events.iterator(chunk_size=options["batch_size"]),
                batch_size=options["batch_size"],
                progress=progress,
            )
        except (ProviderUnavailable, ProviderRejected) as exc:
            bar.update(0, end="\n")
            raise CommandError(
                f"{exc}. Sent up to event {resume['after_id']}; carry on with "
                f"--after-id {resume['after_id']}."
            ) from None
        bar.update(total, end="\n")
        self.stdout.write(
            f"{sent} of {total} events sent to {sink.name} (the others have no customer or an "
            "excluded type)."
            if sent != total
            else f"{sent} events sent to {sink.name}."
        )
