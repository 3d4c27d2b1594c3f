"""Send past domain events to an analytics sink:
``manage.py analytics_backfill --sink warehouse --since 2026-01-01 [--until ...] [--type ...]``.

Idempotent: each event goes with the same id as its live export (Segment's messageId, PostHog's
uuid, the warehouse file name), so a backfill over exported events, or run twice, adds nothing.
Resumable: after each batch the command knows the last event id sent; if a batch fails it says
``--after-id N`` to carry on from there. A progress bar is drawn on stderr.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.analytics.services import analytics_backfill, backfill_events
from integrations.analytics.sinks import SINKS, get_sink
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.management.options import ProgressBar, aware_datetime_option


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
        since = aware_datetime_option(options["since"], "--since")
        until = aware_datetime_option(options["until"], "--until") if options["until"] else None
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
