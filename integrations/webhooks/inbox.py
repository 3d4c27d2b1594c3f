"""Writes of the receiving side: store a verified delivery once, record a refused one.

Nothing here calls a provider or touches a domain row; processing happens after commit, in a task.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from ipaddress import ip_address

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookRejection
from integrations.webhooks.registry import ParsedWebhook

log = structlog.get_logger(__name__)

ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
PROCESS_TASK = "integrations.webhooks.tasks.process_webhook_event"


@dataclass(frozen=True)
class StoreResult:
    event_id: int
    created: bool


def scrub_headers(headers: Mapping[str, str], secret_headers: frozenset[str]) -> dict[str, str]:
    """Lower-cased headers without the endpoint's secret headers, credentials or cookies."""
    hidden = ALWAYS_SECRET_HEADERS | {name.lower() for name in secret_headers}
    return {name.lower(): value for name, value in headers.items() if name.lower() not in hidden}


def webhook_event_store(
    *, provider: str, parsed: ParsedWebhook, headers: Mapping[str, str], body: str
) -> StoreResult:
    """Insert a verified, parsed delivery as ``received`` and due now, in one short transaction.

    Idempotent: a second delivery of the same ``(provider, event_id)`` changes nothing and returns
    the stored row's id with ``created=False`` (the unique constraint decides, so this holds under
    concurrent deliveries on SQLite and PostgreSQL). Processing is enqueued only after the insert
    commits. ``headers`` must already be scrubbed of secrets."""
    now = timezone.now()
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                provider=provider,
                event_id=parsed.event_id,
                event_type=parsed.event_type,
                headers=dict(headers),
                body=body,
                received_at=now,
                occurred_at=parsed.occurred_at,
                object_id=parsed.object_id,
                status=WebhookEvent.Status.RECEIVED,
                next_attempt_at=now,
            )
            transaction.on_commit(partial(enqueue_webhook_event, event.pk))
    except IntegrityError:
        existing = (
            WebhookEvent.objects.filter(provider=provider, event_id=parsed.event_id)
            .values_list("pk", flat=True)
            .first()
        )
        if existing is None:  # not the unique constraint: a real error
            raise
        return StoreResult(event_id=existing, created=False)
    return StoreResult(event_id=event.pk, created=True)


def enqueue_webhook_event(event_pk: int) -> None:
    """Ask the task cluster to process the event. A broker failure is logged, not raised: the
    stored row is the record of work and the sweeper picks it up."""
    from django_q.tasks import async_task

    try:
        async_task(PROCESS_TASK, event_pk, task_name=f"webhook-event-{event_pk}", group="webhooks")
    except Exception:  # boundary: the broker (or a synchronous run) failed; the row remains due
        log.exception("webhook.enqueue_failed", webhook_event=event_pk)


def webhook_rejection_record(
    *,
    provider: str,
    reason: str,
    status_code: int,
    remote_addr: str | None,
    headers: Mapping[str, str],
    body: bytes,
) -> WebhookRejection:
    """Keep a trace of a refused delivery: scrubbed headers and the body's hash and size only.
    ``headers`` must already be scrubbed of secrets."""
    digest = hashlib.sha256(body).hexdigest()
    rejection = WebhookRejection.objects.create(
        provider=provider[:40],
        reason=reason[:200],
        status_code=status_code,
        remote_addr=_valid_ip(remote_addr),
        headers=dict(headers),
        body_sha256=digest,
        body_size=len(body),
    )
    log.warning(
        "webhook.rejected",
        provider=provider,
        reason=reason[:200],
        status_code=status_code,
        remote_addr=rejection.remote_addr,
        body_sha256=digest,
        body_size=len(body),
    )
    return rejection


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ip_address(value))
    except ValueError:
        return None
