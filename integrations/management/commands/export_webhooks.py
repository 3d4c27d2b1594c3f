"""Export inbox rows as scrubbed replay fixtures:
``manage.py export_webhooks --provider stripe --since 2026-03-01T00:00Z --type charge.refunded
--out tests/fixtures/replay/stripe-refund``. See docs/replay.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.management.options import aware_datetime_option
from integrations.webhooks.export import ExportRefused, webhook_events_export

KEY_ENV_HINT = "at least 16 characters"


class Command(BaseCommand):
    help = (
        "Write a provider's stored webhook deliveries as a scrubbed fixture folder: personal "
        "data replaced consistently by keyed fakes, secrets and signatures left out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, help="Provider name, e.g. stripe.")
        parser.add_argument("--since", required=True, help="Received at or after (ISO 8601).")
        parser.add_argument("--until", help="Received before (ISO 8601).")
        parser.add_argument(
            "--type",
            dest="event_types",
            action="append",
            default=[],
            help="Event type to keep (repeatable; all types when absent).",
        )
        parser.add_argument("--out", required=True, help="A new folder for the fixture.")
        parser.add_argument(
            "--key",
            default="",
            help="Key for the fakes (" + KEY_ENV_HINT + "); a random one per export when absent. "
            "The same key gives the same fakes: use it only to make an export reproducible.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = aware_datetime_option(options["since"], "--since")
        until = aware_datetime_option(options["until"], "--until") if options["until"] else None
        if until is not None and until <= since:
            raise CommandError("--until must be after --since.")
        key = options["key"]
        if key and len(key) < 16:
            raise CommandError(f"--key must be {KEY_ENV_HINT}.")
        try:
            result = webhook_events_export(
                provider=options["provider"],
                since=since,
                until=until,
                event_types=options["event_types"],
                out=Path(options["out"]),
                key=key.encode() if key else None,
            )
        except ExportRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Exported {result.count} {options['provider']} deliveries to {result.folder} "
            f"({result.replaced} personal values replaced)."
        )
