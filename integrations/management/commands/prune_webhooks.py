"""Delete finished inbox events and rejections past their retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from integrations.webhooks.retention import webhooks_prune


class Command(BaseCommand):
    help = (
        "Delete processed and ignored webhook events older than WEBHOOK_RETENTION_DAYS and "
        "rejections older than WEBHOOK_REJECTION_RETENTION_DAYS. Received, processing, failed "
        "and dead events are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count only; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        result = webhooks_prune(dry_run=options["dry_run"], batch_size=options["batch_size"])
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {result.events} webhook event(s) older than "
                f"{settings.WEBHOOK_RETENTION_DAYS} days and {result.rejections} rejection(s) "
                f"older than {settings.WEBHOOK_REJECTION_RETENTION_DAYS} days."
                + (f" {verb} {result.arrivals} moved arrival key(s)." if result.arrivals else "")
            )
        )
