"""Sending outbound webhook messages: claim due messages in batches, send them concurrently,
record each attempt, and schedule the next one by Svix's retry schedule.

A message is claimed (status ``sending``, attempt counted, a fresh token) before it is sent; a
worker killed mid-send leaves a claim that goes stale after ``WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS``
and the message is sent again with the same ``webhook-id``: delivery is at least once and
receivers deduplicate on ``webhook-id`` (the Standard Webhooks contract). Only 2xx is success;
a redirect, any other status, a timeout or a refused address is a failure.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import structlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from integrations.claims import ClaimTable
from integrations.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from integrations.webhooks_out.signing import sign, signing_secrets
from integrations.webhooks_out.ssrf import EndpointRefused, Target, pinned_session, resolve_endpoint

log = structlog.get_logger(__name__)

Status = WebhookMessage.Status

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
"""Svix's schedule: attempt n is made ``RETRY_SCHEDULE[n - 1]`` after attempt n - 1 failed (the
first at once); after the eighth the message is dead."""
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
JITTER = 0.1
"""Each retry delay is spread by ±10 % so messages that failed together do not return together."""

OUTBOX: ClaimTable[WebhookMessage] = ClaimTable(
    model=WebhookMessage,
    new=Status.PENDING,
    failed=Status.FAILED,
    running=Status.SENDING,
    dead=Status.DEAD,
    claim_timeout_setting="WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS",
    claim_column="claim_token",
    related=("endpoint", "event"),
)


def retry_delay(*, attempts: int, uniform: Any = random.uniform) -> timedelta | None:
    """How long after failed attempt number ``attempts`` the next one is made, jittered; None
    when the schedule is used up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    delay = RETRY_SCHEDULE[attempts]
    return delay * uniform(1 - JITTER, 1 + JITTER)


def message_body(message: WebhookMessage) -> str:
    """The JSON body: ``{"type", "timestamp", "data"}`` as Standard Webhooks recommends; ``data``
    carries the domain event (id, times, customer, subject) and its payload."""
    if message.event is None:
        payload = message.test_payload or {}
        timestamp = message.created_at
        data: dict[str, Any] = {"test": True, **payload}
    else:
        event = message.event
        timestamp = event.recorded_at
        subject = None
        if event.subject_type_id is not None:
            content_type = ContentType.objects.get_for_id(event.subject_type_id)
            subject = {
                "type": f"{content_type.app_label}.{content_type.model}",
                "id": event.subject_id,
                "label": event.subject_label,
            }
        data = {
            "event_id": event.pk,
            "occurred_at": event.occurred_at.isoformat(),
            "customer_id": event.customer_id,
            "subject": subject,
            "payload": event.data,
        }
    return json.dumps(
        {"type": message.event_type, "timestamp": timestamp.isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )


@dataclass(frozen=True)
class Outcome:
    """What one attempt got back."""

    succeeded: bool
    duration_ms: int
    status_code: int | None = None
    excerpt: str = ""
    error: str = ""


class _Sessions:
    """Pinned sessions per (endpoint, address) for one drain, so connections are reused."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[int, str], requests.Session] = {}

    def get(self, endpoint_id: int, target: Target) -> requests.Session:
        key = (endpoint_id, target.address)
        if key not in self._sessions:
            self._sessions[key] = pinned_session(
                target, pool_maxsize=max(1, settings.WEBHOOKS_OUT_CONCURRENCY)
            )
        return self._sessions[key]

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()


def _send(session: requests.Session, url: str, headers: dict[str, str], body: str) -> Outcome:
    started = time.monotonic()
    try:
        response = session.post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=(
                settings.WEBHOOKS_OUT_CONNECT_TIMEOUT_SECONDS,
                settings.WEBHOOKS_OUT_READ_TIMEOUT_SECONDS,
            ),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return Outcome(
            succeeded=False,
            duration_ms=_elapsed(started),
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
    excerpt = response.text[: settings.WEBHOOKS_OUT_RESPONSE_EXCERPT_CHARS]
    response.close()
    status = response.status_code
    ok = 200 <= status < 300
    error = ""
    if not ok:
        error = f"HTTP {status}"
        if 300 <= status < 400:
            error += f" redirect to {response.headers.get('Location', '')[:200]} (not followed)"
    return Outcome(
        succeeded=ok,
        duration_ms=_elapsed(started),
        status_code=status,
        excerpt=excerpt,
        error=error,
    )


def _elapsed(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _prepare(
    message: WebhookMessage, sessions: _Sessions, secrets_by_endpoint: dict[int, list[str]]
) -> tuple[requests.Session, str, dict[str, str], str] | Outcome:
    endpoint = message.endpoint
    try:
        target = resolve_endpoint(endpoint.url)
    except EndpointRefused as exc:
        return Outcome(succeeded=False, duration_ms=0, error=str(exc)[:500])
    if endpoint.pk not in secrets_by_endpoint:
        secrets_by_endpoint[endpoint.pk] = signing_secrets(endpoint)
    body = message_body(message)
    headers = {
        "content-type": "application/json",
        "user-agent": f"switchboard-webhooks/{settings.APP_VERSION}",
        **sign(
            secrets=secrets_by_endpoint[endpoint.pk],
            msg_id=message.msg_id,
            at=timezone.now(),
            body=body,
        ),
    }
    return sessions.get(endpoint.pk, target), endpoint.url, headers, body


def send_claimed(messages: Sequence[WebhookMessage]) -> list[WebhookMessage]:
    """Send claimed messages (concurrently, outside any transaction) and record the outcomes.
    Messages of an endpoint disabled meanwhile are marked skipped unsent (test messages are
    sent all the same: they tell whether a disabled endpoint works again)."""
    if not messages:
        return []
    sessions = _Sessions()
    secrets_by_endpoint: dict[int, list[str]] = {}
    try:
        outcomes: dict[int, Outcome | None] = {}
        jobs = []
        for message in messages:
            if not message.endpoint.active and message.event_id is not None:
                outcomes[message.pk] = None
                continue
            prepared = _prepare(message, sessions, secrets_by_endpoint)
            if isinstance(prepared, Outcome):
                outcomes[message.pk] = prepared
            else:
                jobs.append((message.pk, prepared))
        workers = max(1, min(settings.WEBHOOKS_OUT_CONCURRENCY, len(jobs)))
        if len(jobs) == 1:
            outcomes[jobs[0][0]] = _send(*jobs[0][1])
        elif jobs:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for pk, outcome in zip(
                    [pk for pk, _ in jobs],
                    pool.map(lambda job: _send(*job[1]), jobs),
                    strict=True,
                ):
                    outcomes[pk] = outcome
    finally:
        sessions.close()
    return record_outcomes(messages, outcomes)


def record_outcomes(
    messages: Sequence[WebhookMessage], outcomes: dict[int, Outcome | None]
) -> list[WebhookMessage]:
    """Write the attempts and each message's new state in one short transaction; a message
    whose claim was taken over meanwhile is left to the newer claim."""
    now = timezone.now()
    attempts: list[WebhookAttempt] = []
    failed_endpoints: dict[int, WebhookEndpoint] = {}
    succeeded_endpoints: set[int] = set()
    with transaction.atomic():
        for message in messages:
            outcome = outcomes.get(message.pk)
            fields: dict[str, Any]
            if outcome is None:
                fields = {"status": Status.SKIPPED, "next_attempt_at": None, "completed_at": now}
            elif outcome.succeeded:
                fields = {
                    "status": Status.SUCCEEDED,
                    "next_attempt_at": None,
                    "completed_at": now,
                    "last_status_code": outcome.status_code,
                    "last_error": "",
                }
            else:
                delay = retry_delay(attempts=message.attempts)
                fields = {
                    "status": Status.DEAD if delay is None else Status.FAILED,
                    "next_attempt_at": None if delay is None else now + delay,
                    "completed_at": now if delay is None else None,
                    "last_status_code": outcome.status_code,
                    "last_error": outcome.error,
                }
            if not OUTBOX.finish(message, **fields):
                log.warning("webhook_out.claim_lost", message_id=message.pk)
                continue
            for name, value in fields.items():
                setattr(message, name, value)
            if outcome is None:
                continue
            attempts.append(
                WebhookAttempt(
                    message=message,
                    endpoint_id=message.endpoint_id,
                    attempt=message.attempts,
                    succeeded=outcome.succeeded,
                    status_code=outcome.status_code,
                    duration_ms=outcome.duration_ms,
                    response_excerpt=outcome.excerpt,
                    error=outcome.error,
                    created_at=now,
                )
            )
            if outcome.succeeded:
                succeeded_endpoints.add(message.endpoint_id)
            else:
                failed_endpoints[message.endpoint_id] = message.endpoint
        WebhookAttempt.objects.bulk_create(attempts)
        if succeeded_endpoints:
            WebhookEndpoint.objects.filter(pk__in=succeeded_endpoints).update(
                first_failure_at=None, last_success_at=now
            )
        failing = set(failed_endpoints) - succeeded_endpoints
        if failing:
            WebhookEndpoint.objects.filter(pk__in=failing, first_failure_at__isnull=True).update(
                first_failure_at=now
            )
    if failing:
        from integrations.webhooks_out.services import endpoints_disable_failing

        endpoints_disable_failing(endpoint_ids=sorted(failing), now=now)
    return list(messages)


def messages_due(*, limit: int, now: datetime | None = None) -> list[int]:
    """Pks of messages that may be claimed now: stale claims, due retries, then new ones."""
    return OUTBOX.due(limit=limit, now=now)


def messages_send_due(*, limit: int | None = None) -> int:
    """Claim due messages a batch at a time and send each batch, until none is due or ``limit``
    were sent; returns how many were sent. Safe in several workers at once."""
    limit = limit if limit is not None else 10**9
    sent = 0
    tried: set[int] = set()
    while sent < limit:
        batch = list(
            OUTBOX.due(limit=min(settings.WEBHOOKS_OUT_BATCH, limit - sent), exclude=tried)
        )
        if not batch:
            break
        tried.update(batch)
        claimed = OUTBOX.claim_many(batch)
        send_claimed(claimed)
        sent += len(claimed)
    return sent


def message_send(*, message_id: int) -> WebhookMessage:
    """Send one message now if it is due (claim, send, record) and return it as it then is."""
    claimed = OUTBOX.claim_many([message_id])
    send_claimed(claimed)
    return WebhookMessage.objects.select_related("endpoint").get(pk=message_id)


def next_due_in(*, now: datetime | None = None) -> float | None:
    """Seconds until the soonest waiting message is due (0 when one is due now); None if none."""
    now = now or timezone.now()
    soonest = (
        WebhookMessage.objects.filter(
            status__in=[Status.PENDING, Status.FAILED], next_attempt_at__isnull=False
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if soonest is None:
        return None
    return max(0.0, (soonest - now).total_seconds())
