"""Writes of the receiving side: store a verified delivery once, record a refused one.

Nothing here calls a provider or touches a domain row; processing happens after commit, in a task.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from ipaddress import ip_address
from time import monotonic
from typing import Any, cast

import structlog
from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Field
from django.utils import timezone

from integrations.models import WebhookEvent, WebhookRejection
from integrations.webhooks.registry import ParsedWebhook

log = structlog.get_logger(__name__)

ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
DRAIN_TASK = "integrations.webhooks.tasks.drain"


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
    values = {
        "provider": provider,
        "event_id": parsed.event_id,
        "event_type": parsed.event_type,
        "headers": dict(headers),
        "body": body,
        "received_at": now,
        "occurred_at": parsed.occurred_at,
        "status": WebhookEvent.Status.RECEIVED,
        "attempts": 0,
        "next_attempt_at": now,
        "object_id": parsed.object_id,
        "affected": [],
        "last_error": "",
        "traceback": "",
        "claim_token": "",
    }
    connection = connections[router.db_for_write(WebhookEvent)]
    meta = WebhookEvent._meta
    fields = [cast("Field[Any, Any]", meta.get_field(name)) for name in values]
    columns = [str(field.column) for field in fields]
    params = [
        f.get_db_prep_save(v, connection) for f, v in zip(fields, values.values(), strict=True)
    ]
    quote = connection.ops.quote_name
    # One statement, one round trip: the unique constraint decides what is a duplicate, even
    # under concurrent deliveries (SQLite >= 3.35 and PostgreSQL both support RETURNING).
    # Identifiers come from the model's metadata; every value is a bound parameter.
    table, returning = quote(meta.db_table), quote("id")
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING RETURNING {returning}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        existing = (
            WebhookEvent.objects.filter(provider=provider, event_id=parsed.event_id)
            .values_list("pk", flat=True)
            .first()
        )
        if existing is None:
            raise IntegrityError(f"Could not store {provider} event {parsed.event_id}.")
        return StoreResult(event_id=existing, created=False)
    transaction.on_commit(partial(enqueue_webhook_event, row[0]), using=connection.alias)
    return StoreResult(event_id=row[0], created=True)


_wake_lock = threading.Lock()
_last_wake = -1e9


def enqueue_webhook_event(event_pk: int) -> None:
    """Wake a drain worker for the committed event. Coalesced per process: at most one drain
    task per WEBHOOK_WAKE_WINDOW_SECONDS, because a drain runs every due event and keeps polling
    for WEBHOOK_DRAIN_LINGER_SECONDS (longer than the window) after its queue empties, so an event
    committed within the window is still picked up. A broker failure is logged, not raised: the
    stored row is the record of work and the sweeper picks it up."""
    global _last_wake
    from django_q.tasks import async_task

    window: float = settings.WEBHOOK_WAKE_WINDOW_SECONDS
    with _wake_lock:
        now = monotonic()
        if window and now - _last_wake < window:
            return
        _last_wake = now
    try:
        async_task(DRAIN_TASK, task_name=f"webhook-drain-{event_pk}", group="webhooks", save=False)
    except Exception:  # boundary: the broker (or a synchronous run) failed; the row remains due
        with _wake_lock:
            _last_wake = -1e9
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
