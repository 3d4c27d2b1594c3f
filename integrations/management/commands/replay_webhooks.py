"""Replay inbox events: ``manage.py replay_webhooks --provider P --status failed --since ISO``.

Each replayed event is one audit-log entry whose actor is the operating-system user who ran the
command (``os:<user>``, with the sudo caller when run through sudo); a dry run records nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from integrations.audit_hook import acting_as, os_user_label
from integrations.exceptions import InvalidTransition
from integrations.management.options import aware_datetime_option
from integrations.models import WebhookEvent
from integrations.webhooks.processing import webhook_event_replay


class Command(BaseCommand):
    help = (
        "Re-run the handlers of selected webhook events (handlers are idempotent, so a replayed "
        "processed event has no second effect). At least one filter is required."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", help="Provider name, e.g. stripe.")
        parser.add_argument(
            "--status", choices=[s.value for s in WebhookEvent.Status], help="Current status."
        )
        parser.add_argument("--since", help="Received at or after (ISO 8601).")
        parser.add_argument("--until", help="Received before (ISO 8601).")
        parser.add_argument("--event-type", help="Exact event type.")
        parser.add_argument(
            "--event-id", action="append", default=[], help="Provider event id (repeatable)."
        )
        parser.add_argument("--limit", type=int, default=None, help="At most this many events.")
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be replayed; change nothing."
        )

    def _selection(self, options: dict[str, Any]) -> QuerySet[WebhookEvent]:
        filters: dict[str, Any] = {}
        if options["provider"]:
            filters["provider"] = options["provider"]
        if options["status"]:
            filters["status"] = options["status"]
        if options["since"]:
            filters["received_at__gte"] = aware_datetime_option(options["since"], "--since")
        if options["until"]:
            filters["received_at__lt"] = aware_datetime_option(options["until"], "--until")
        if options["event_type"]:
            filters["event_type"] = options["event_type"]
        if options["event_id"]:
            filters["event_id__in"] = options["event_id"]
        if not filters:
            raise CommandError(
                "Give at least one filter: --provider, --status, --since, --until, "
                "--event-type or --event-id."
            )
        queryset = WebhookEvent.objects.filter(**filters).order_by("received_at", "pk")
        if options["limit"] is not None:
            if options["limit"] < 1:
                raise CommandError("--limit must be at least 1.")
            queryset = queryset[: options["limit"]]
        return queryset

    def handle(self, *args: Any, **options: Any) -> None:
        selection = self._selection(options)
        if options["dry_run"]:
            count = 0
            for event in selection.iterator():
                count += 1
                self.stdout.write(
                    f"  would replay #{event.pk} {event.provider} {event.event_type} "
                    f"{event.event_id} ({event.status}, received {event.received_at:%Y-%m-%d %H:%M})"
                )
            self.stdout.write(f"Dry run: {count} event(s) would be replayed. Nothing changed.")
            return
        with acting_as(os_user_label()):
            self._replay(selection)

    def _replay(self, selection: QuerySet[WebhookEvent]) -> None:
        outcomes: Counter[str] = Counter()
        # Ids first: replaying writes to the rows being selected.
        for pk in list(selection.values_list("pk", flat=True)):
            found = WebhookEvent.objects.filter(pk=pk).first()
            if found is None:
                continue
            try:
                result = webhook_event_replay(event=found)
            except InvalidTransition:
                outcomes["skipped (being processed)"] += 1
                self.stdout.write(f"  #{found.pk} {found.event_id}: skipped, being processed")
                continue
            outcomes[result.status] += 1
            self.stdout.write(f"  #{found.pk} {found.event_id}: {result.status}")
        total = sum(outcomes.values())
        summary = ", ".join(f"{status} {count}" for status, count in sorted(outcomes.items()))
        self.stdout.write(
            self.style.SUCCESS(f"Replayed {total} event(s)" + (f": {summary}." if summary else "."))
        )
