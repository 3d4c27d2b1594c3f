"""Pruning of finished inbox rows, old rejection samples and their hourly counters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.models import WebhookArrival, WebhookArrivalMark, WebhookEvent, WebhookRejection
from integrations.models.webhooks import WebhookRejectionCounter

PRUNABLE = (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)


@dataclass(frozen=True)
class PruneResult:
    events: int
    rejections: int
    rejection_counters: int = 0
    arrivals: int = 0


def prunable_webhook_events(*, now: datetime | None = None) -> QuerySet[WebhookEvent]:
    """Processed and ignored events finished more than WEBHOOK_RETENTION_DAYS ago. Received,
    processing, failed and dead events are never prunable: they are work or evidence."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    return WebhookEvent.objects.filter(status__in=PRUNABLE, received_at__lt=cutoff).filter(
        Q(processed_at__lt=cutoff) | Q(processed_at__isnull=True)
    )


def prunable_webhook_arrivals(*, now: datetime | None = None) -> QuerySet[WebhookArrival]:
    """Arrivals moved into the inbox (their key kept for the dedupe, their payload already gone)
    and received more than WEBHOOK_RETENTION_DAYS ago; one not moved yet is never prunable."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    moved = WebhookArrivalMark.objects.filter(pk=1).values("moved_through")
    return WebhookArrival.objects.filter(
        pk__lte=Coalesce(Subquery(moved), 0), received_at__lt=cutoff
    )


def prunable_webhook_rejections(*, now: datetime | None = None) -> QuerySet[WebhookRejection]:
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_REJECTION_RETENTION_DAYS)
    return WebhookRejection.objects.filter(received_at__lt=cutoff)


def prunable_webhook_rejection_counters(
    *, now: datetime | None = None
) -> QuerySet[WebhookRejectionCounter]:
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_REJECTION_RETENTION_DAYS)
    return WebhookRejectionCounter.objects.filter(hour__lt=cutoff)


def _delete_in_batches(queryset: QuerySet[Any], batch_size: int) -> int:
    total = 0
    while True:
        # Oldest first: ids grow with time, so old rows are met first on an index ending in the
        # id (the inbox's status index) instead of after every newer one.
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        # The filter is applied again by the DELETE: a row replayed meanwhile is kept.
        deleted, _ = queryset.filter(pk__in=ids).delete()
        total += deleted
        if deleted == 0:
            return total


def webhooks_prune(
    *, now: datetime | None = None, dry_run: bool = False, batch_size: int = 1000
) -> PruneResult:
    """Delete what ``prunable_webhook_events``, ``prunable_webhook_rejections``,
    ``prunable_webhook_rejection_counters`` and ``prunable_webhook_arrivals`` select, in
    batches of short transactions; with ``dry_run`` only count. Returns the numbers (to be)
    deleted. Idempotent."""
    events = prunable_webhook_events(now=now)
    rejections = prunable_webhook_rejections(now=now)
    counters = prunable_webhook_rejection_counters(now=now)
    arrivals = prunable_webhook_arrivals(now=now)
    if dry_run:
        return PruneResult(
            events=events.count(),
            rejections=rejections.count(),
            rejection_counters=counters.count(),
            arrivals=arrivals.count(),
        )
    return PruneResult(
        # One status at a time, so each batch is read oldest first straight off the
        # (status, id) index; the statuses together would be merged and sorted on every batch.
        events=sum(
            _delete_in_batches(events.filter(status=status), batch_size) for status in PRUNABLE
        ),
        rejections=_delete_in_batches(rejections, batch_size),
        rejection_counters=_delete_in_batches(counters, batch_size),
        arrivals=_delete_in_batches(arrivals, batch_size),
    )
