"""Thin task entry points for the cluster; the work is in ``processing`` and ``retention``."""

from __future__ import annotations

import time

import structlog
from django.conf import settings
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.webhooks.processing import process_due_webhooks, webhook_event_process
from integrations.webhooks.retention import webhooks_prune

log = structlog.get_logger(__name__)
INLINE_RETRIES = 4


def process_webhook_event(event_pk: int) -> str:
    """Process one inbox event (enqueued after it was stored). Idempotent: a second run, or a run
    after the sweeper got there first, changes nothing. A failure due again within
    WEBHOOK_INLINE_RETRY_SECONDS (a fact that beat its object) is retried here after a short
    wait instead of waiting for the next sweep. Returns the event's status."""
    try:
        event = webhook_event_process(event_id=event_pk)
        for _ in range(INLINE_RETRIES):
            if event.status != WebhookEvent.Status.FAILED or event.next_attempt_at is None:
                break
            wait = (event.next_attempt_at - timezone.now()).total_seconds()
            if wait > settings.WEBHOOK_INLINE_RETRY_SECONDS:
                break
            time.sleep(max(wait, 0))
            event = webhook_event_process(event_id=event_pk)
        return event.status
    except WebhookEvent.DoesNotExist:
        log.warning("webhook.process_missing", webhook_event=event_pk)
        return "missing"


def sweep() -> int:
    """Every minute: process due received/failed events and re-run timed-out claims. Returns how
    many were run."""
    return process_due_webhooks(
        limit=settings.WEBHOOK_SWEEP_BATCH, time_budget_seconds=settings.WEBHOOK_SWEEP_SECONDS
    )


def prune() -> dict[str, int]:
    """Delete processed/ignored events and rejections past their retention."""
    result = webhooks_prune()
    return {"events": result.events, "rejections": result.rejections}
