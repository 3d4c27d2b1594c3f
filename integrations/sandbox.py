"""The sandbox providers' shared half: sending their signed webhooks back to us.

A sandbox provider (payments, shipping, messaging) answers our calls in-process and then, like a
real provider, POSTs Standard Webhooks-signed events to our own ``/webhooks/sandbox-*/`` URL after
a realistic delay. Settings add chaos: duplicate deliveries, reordering, delays.

Each webhook owed is a ``SandboxWebhook`` row first. One sender task at a time (a cache lease)
sends rows as they fall due; the sweeper sends whatever a lost queue or a killed sender left.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any

import requests
import structlog
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from integrations.models import SandboxWebhook
from integrations.webhooks.standard import standard_webhooks_headers

log = structlog.get_logger(__name__)

SEND_TIMEOUT_SECONDS = 10
SENDER_TASK = "integrations.sandbox.send"
SENDER_LOCK_KEY = "sandbox-webhooks-sender"
_rng = random.Random()  # noqa: S311 - simulation, not security


@dataclass(frozen=True)
class SandboxEvent:
    type: str
    data: Mapping[str, Any]
    occurred_at: datetime


def sandbox_secret() -> str:
    return str(settings.SANDBOX_WEBHOOK_SECRET)


def sandbox_secrets() -> list[str]:
    return [
        s for s in (settings.SANDBOX_WEBHOOK_SECRET, settings.SANDBOX_WEBHOOK_SECRET_PREVIOUS) if s
    ]


def sandbox_emit(*, endpoint: str, events: Sequence[SandboxEvent]) -> list[str]:
    """Owe ``events`` to ``/webhooks/<endpoint>/``: one ``SandboxWebhook`` row each, written in
    the caller's transaction (or at once outside one), and a sender woken once it commits.

    Each event gets its own webhook id; chaos settings may duplicate a delivery (same id) or
    shuffle the order. The rows, not the task queue, are the record: a lost queue or a killed
    worker delays them until the sweeper sends them. Returns the webhook ids."""
    deliveries: list[tuple[str, str, int]] = []
    low, high = settings.SANDBOX_DELAY_MIN_MS, settings.SANDBOX_DELAY_MAX_MS
    for index, event in enumerate(events):
        msg_id = f"msg_{uuid.uuid4().hex}"
        body = json.dumps(
            {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": event.data},
            cls=DjangoJSONEncoder,
            separators=(",", ":"),
        )
        # Later facts are sent later, unless chaos reorders them.
        delay = _rng.randint(low, high) + index * high // 4
        deliveries.append((msg_id, body, delay))
        if _rng.random() < settings.SANDBOX_CHAOS_DUPLICATE_RATE:
            deliveries.append((msg_id, body, delay + _rng.randint(low, high)))
    if settings.SANDBOX_CHAOS_REORDER:
        _rng.shuffle(deliveries)
        deliveries = [(m, b, _rng.randint(low, high)) for m, b, _ in deliveries]
    if not settings.SANDBOX_SEND_WEBHOOKS:
        return [msg_id for msg_id, _, _ in deliveries]
    now = timezone.now()
    SandboxWebhook.objects.bulk_create(
        SandboxWebhook(
            endpoint=endpoint,
            msg_id=msg_id,
            body=body,
            due_at=now + timedelta(milliseconds=delay),
            created_at=now,
        )
        for msg_id, body, delay in deliveries
    )
    transaction.on_commit(sandbox_wake, robust=True)
    return [msg_id for msg_id, _, _ in deliveries]


def sandbox_wake() -> None:
    """Start a sender task unless one is running (a broker failure is logged: the sweeper sends
    the rows anyway)."""
    if cache.get(SENDER_LOCK_KEY) is not None:
        return
    try:
        async_task(SENDER_TASK, task_name="sandbox-webhooks-send", save=False)
    except Exception:  # boundary: the broker is down; the rows stay due for the sweeper
        log.exception("sandbox.wake_failed")


def _claimable(now: datetime) -> Q:
    stale = now - timedelta(seconds=settings.SANDBOX_CLAIM_TIMEOUT_SECONDS)
    return Q(status=SandboxWebhook.Status.PENDING, due_at__lte=now) & (
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale)
    )


def _send_one(row: SandboxWebhook) -> bool:
    """Claim ``row`` (a conditional update, so two senders never both send it), POST it, and
    record the outcome. A failed POST is retried later with backoff, like a provider would."""
    now = timezone.now()
    claimed = SandboxWebhook.objects.filter(
        _claimable(now), pk=row.pk, claimed_at=row.claimed_at
    ).update(claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return False
    attempts = row.attempts + 1
    try:
        status = deliver_sandbox_webhook(row.endpoint, row.msg_id, row.body)
    except (requests.RequestException, RuntimeError) as exc:
        dead = attempts >= settings.SANDBOX_MAX_ATTEMPTS
        delay = min(60.0, 0.5 * 2 ** min(attempts, 10))
        SandboxWebhook.objects.filter(pk=row.pk, claimed_at=now).update(
            status=SandboxWebhook.Status.DEAD if dead else SandboxWebhook.Status.PENDING,
            claimed_at=None,
            due_at=timezone.now() + timedelta(seconds=delay),
            last_error=f"{type(exc).__name__}: {exc}"[:300],
        )
        log.warning(
            "sandbox.webhook_failed",
            endpoint=row.endpoint,
            webhook_id=row.msg_id,
            attempts=attempts,
            dead=dead,
            error=type(exc).__name__,
        )
        return True
    SandboxWebhook.objects.filter(pk=row.pk, claimed_at=now).update(
        status=SandboxWebhook.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    log.info("sandbox.webhook_sent", endpoint=row.endpoint, webhook_id=row.msg_id, status=status)
    return True


def sandbox_send_due(*, time_budget_seconds: float, linger: bool) -> int:
    """Send every due webhook (oldest due first) until none is due and, with ``linger``, none is
    pending within the budget either. Returns how many were sent or tried."""
    deadline = monotonic() + time_budget_seconds
    sent = 0
    while monotonic() < deadline:
        now = timezone.now()
        due = list(SandboxWebhook.objects.filter(_claimable(now)).order_by("due_at", "pk")[:50])
        for row in due:
            sent += _send_one(row)
        if due:
            continue
        if not linger:
            break
        next_due = (
            SandboxWebhook.objects.filter(status=SandboxWebhook.Status.PENDING)
            .order_by("due_at")
            .values_list("due_at", flat=True)
            .first()
        )
        if next_due is None:
            break
        time.sleep(min(max((next_due - now).total_seconds(), 0.01), 0.25))
    return sent


def send() -> int:
    """Task: the single sender (a cache lease keeps it to one at a time) sends due webhooks and
    waits for those due soon, for at most SANDBOX_SENDER_MAX_SECONDS; if any are still pending
    then, it hands over to a fresh task."""
    token = uuid.uuid4().hex
    lease = settings.SANDBOX_SENDER_MAX_SECONDS + 15
    if not cache.add(SENDER_LOCK_KEY, token, timeout=lease):
        return 0
    try:
        sent = sandbox_send_due(
            time_budget_seconds=settings.SANDBOX_SENDER_MAX_SECONDS, linger=True
        )
    finally:
        if cache.get(SENDER_LOCK_KEY) == token:
            cache.delete(SENDER_LOCK_KEY)
    if SandboxWebhook.objects.filter(status=SandboxWebhook.Status.PENDING).exists():
        sandbox_wake()
    return sent


def sweep() -> int:
    """Every minute (sweeper cluster): send what is due, including rows whose sender died."""
    return sandbox_send_due(time_budget_seconds=settings.WEBHOOK_SWEEP_SECONDS, linger=False)


def deliver_sandbox_webhook(endpoint: str, msg_id: str, body: str) -> int:
    """POST one signed event to our own endpoint; returns the HTTP status. A non-2xx answer
    raises RuntimeError, so the row is retried like a provider's retry schedule would."""
    headers = standard_webhooks_headers(
        secret=sandbox_secret(), msg_id=msg_id, body=body, at=datetime.now(tz=UTC)
    )
    headers["content-type"] = "application/json"
    url = f"{settings.SANDBOX_WEBHOOK_TARGET.rstrip('/')}/webhooks/{endpoint}/"
    response = requests.post(url, data=body.encode(), headers=headers, timeout=SEND_TIMEOUT_SECONDS)
    if response.status_code >= 300:
        raise RuntimeError(f"Our webhook endpoint answered {response.status_code} to {msg_id}.")
    return response.status_code


def sandbox_maybe_fail(provider: str) -> None:
    """Chaos on calls: raise ProviderUnavailable at ``SANDBOX_CHAOS_FAILURE_RATE``."""
    from integrations.exceptions import SwitchboardError

    if _rng.random() < settings.SANDBOX_CHAOS_FAILURE_RATE:
        unavailable: type[SwitchboardError] = _provider_unavailable()
        raise unavailable(f"{provider} sandbox: simulated outage")


def _provider_unavailable() -> Any:
    from integrations import exceptions

    return getattr(exceptions, "ProviderUnavailable", exceptions.SwitchboardError)
