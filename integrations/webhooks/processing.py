"""Claim and process inbox events, retry them with backoff, replay them.

The claims, the backoff, the attempt budget and the due-event loop are the shared engine's
(``integrations.claims``, the table ``INBOX``): an event is processed by whoever claims it, its
``claimed_at`` fences the outcome, and a claim older than ``WEBHOOK_CLAIM_TIMEOUT_SECONDS`` is
taken back (the worker died); handlers are idempotent, so the re-run applies the effect at most
once.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from datetime import timedelta
from time import monotonic
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.audit_hook import audit
from integrations.claims import (
    ClaimTable,
    attempts_abandoned,
    attempts_used_up,
    backoff_seconds,
)
from integrations.exceptions import InvalidTransition
from integrations.facts import ObjectNotReady
from integrations.models import WebhookEvent
from integrations.webhooks.alerts import webhook_dead_alert
from integrations.webhooks.inbox import webhook_arrivals_move
from integrations.webhooks.registry import HandlerOutcome, MalformedWebhook, get_webhook_endpoint

log = structlog.get_logger(__name__)

Status = WebhookEvent.Status
TRACEBACK_LIMIT = 50_000
ERROR_LIMIT = 2_000
WORKER_DIED_ERROR = "Gave up: the worker stopped (killed or timed out) during the last attempt."

INBOX: ClaimTable[WebhookEvent] = ClaimTable(
    model=WebhookEvent,
    new=Status.RECEIVED,
    failed=Status.FAILED,
    running=Status.PROCESSING,
    dead=Status.DEAD,
    claim_timeout_setting="WEBHOOK_CLAIM_TIMEOUT_SECONDS",
    claim_column="claim_token",
)


class ClaimLost(Exception):
    """The claim timed out and another worker took the event over; this run's work is dropped."""


def webhook_retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones: exponential from
    WEBHOOK_RETRY_BASE_SECONDS, capped at WEBHOOK_RETRY_MAX_SECONDS, with ±20 % jitter."""
    return backoff_seconds(
        attempts=attempts,
        base=settings.WEBHOOK_RETRY_BASE_SECONDS,
        cap=settings.WEBHOOK_RETRY_MAX_SECONDS,
    )


def _claim(event_id: int) -> WebhookEvent | None:
    """Move a claimable event to processing and return it, or None if it is not claimable now."""
    return INBOX.claim(event_id)


def _claim_batch(event_ids: list[int]) -> list[WebhookEvent]:
    """Claim whichever of ``event_ids`` are claimable, in one statement; return those claimed."""
    return INBOX.claim_many(event_ids)


def _affected(outcome: HandlerOutcome | None) -> list[dict[str, str]]:
    if outcome is None:
        return []
    seen: set[tuple[str, str]] = set()
    items = []
    for obj in outcome.affected:
        key = (obj._meta.label_lower, str(obj.pk))
        if key not in seen:
            seen.add(key)
            items.append({"model": key[0], "pk": key[1], "label": str(obj)[:200]})
    return items


def _finish(event: WebhookEvent, *, status: str, affected: list[dict[str, str]]) -> None:
    """Record success, only if this worker still holds the claim (else raise ClaimLost)."""
    if not INBOX.finish(
        event, status=status, processed_at=timezone.now(), affected=affected, next_attempt_at=None
    ):
        raise ClaimLost


def not_ready_retry_delay(waited_seconds: float) -> float:
    """A fact that beat its own object (``ObjectNotReady``) usually needs only the other write to
    commit, so it is retried within half a second; the longer it has waited, the longer the next
    wait (a quarter of the time waited so far), capped at WEBHOOK_NOT_READY_MAX_SECONDS."""
    cap: float = settings.WEBHOOK_NOT_READY_MAX_SECONDS
    return min(cap, max(0.5, waited_seconds / 4))


def _record_failure(
    event: WebhookEvent, *, error: str, trace: str, not_ready: bool = False, malformed: bool = False
) -> None:
    """Record a failed attempt (only if this worker still holds the claim). A fact whose object is
    not recorded yet does not use up the attempt budget: its object may be recorded only once a
    crashed provider call is recovered (a delivery's claim timeout plus its retry), so it waits up
    to WEBHOOK_NOT_READY_GIVE_UP_SECONDS from its arrival before it is dead. A malformed body stays
    malformed: it is dead at once (a replay after a fix still re-runs it)."""
    if not_ready:
        waited = (timezone.now() - event.received_at).total_seconds()
        dead = waited >= settings.WEBHOOK_NOT_READY_GIVE_UP_SECONDS
        delay = not_ready_retry_delay(waited)
        attempts: Any = F("attempts") - 1  # a wait, not an attempt
    else:
        dead = malformed or attempts_used_up(
            attempts=event.attempts, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS
        )
        delay = webhook_retry_delay(event.attempts)
        attempts = event.attempts
    failure = INBOX.fail(
        event,
        dead=dead,
        retry_in=timedelta(seconds=delay),
        last_error=error[:ERROR_LIMIT],
        traceback=trace[-TRACEBACK_LIMIT:],
        attempts=attempts,
    )
    fields: dict[str, Any] = {
        "webhook_event": event.pk,
        "provider": event.provider,
        "event_type": event.event_type,
        "attempts": event.attempts,
        "error": error[:ERROR_LIMIT],
    }
    if not failure.recorded:
        # Another worker took over, or the error came after the handler's transaction had
        # committed (from an on-commit callback): the row already tells the outcome.
        current = WebhookEvent.objects.filter(pk=event.pk).values_list("status", flat=True).first()
        log.warning("webhook.failure_not_recorded", current_status=current, **fields)
    elif dead:
        log.error("webhook.dead", **fields)
        webhook_dead_alert(event_id=event.pk)
    else:
        log.warning(
            "webhook.failed",
            next_attempt_at=failure.next_attempt_at.isoformat()
            if failure.next_attempt_at
            else None,
            **fields,
        )


def _run(event: WebhookEvent) -> None:
    """Run the claimed event's handler; never raises for a handler failure."""
    started = monotonic()
    if attempts_abandoned(attempts=event.attempts, max_attempts=settings.WEBHOOK_MAX_ATTEMPTS):
        # Only a timed-out claim gets here: every earlier attempt's worker died on this event.
        _record_failure(event, error=WORKER_DIED_ERROR, trace="")
        return
    try:
        endpoint = get_webhook_endpoint(event.provider)
        if endpoint is None:
            raise LookupError(f"No webhook endpoint is registered for {event.provider!r}.")
        handler = endpoint.handler_for(event.event_type)
        if handler is None:
            _finish(event, status=Status.IGNORED, affected=[])
            outcome_status = Status.IGNORED
        else:
            parsed = endpoint.parse(headers=event.headers, body=event.body.encode("utf-8"))
            # The handler's writes and the success record commit together or not at all.
            with transaction.atomic():
                outcome = handler(event, parsed)
                _finish(event, status=Status.PROCESSED, affected=_affected(outcome))
            outcome_status = Status.PROCESSED
    except ClaimLost:
        log.warning("webhook.claim_lost", webhook_event=event.pk, provider=event.provider)
        return
    except Exception as exc:  # boundary: any handler failure is recorded on the row, retried
        _record_failure(
            event,
            error=f"{type(exc).__name__}: {exc}",
            trace=traceback.format_exc(),
            not_ready=isinstance(exc, ObjectNotReady),
            malformed=isinstance(exc, MalformedWebhook),
        )
        return
    log.info(
        "webhook.processed",
        webhook_event=event.pk,
        provider=event.provider,
        event_type=event.event_type,
        status=outcome_status,
        attempts=event.attempts,
        duration_ms=round((monotonic() - started) * 1000, 1),
    )


def _claim_and_run(event_id: int) -> bool:
    event = _claim(event_id)
    if event is None:
        return False
    _run(event)
    return True


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Claim the event and run its handler once; return the row as it stands afterwards.

    Outcomes: ``processed`` (handler's writes and ``affected`` committed together), ``ignored``
    (no handler for the type; kept), ``failed`` with ``last_error``, ``traceback`` and a
    backed-off ``next_attempt_at`` (the handler's writes rolled back), or ``dead`` once
    WEBHOOK_MAX_ATTEMPTS attempts have failed (an attempt whose worker died counts) or at once
    when the stored body or a fact in it is malformed. An event that is not claimable now (finished,
    waiting for its retry time, or held by a live worker) is returned unchanged: calling this
    twice never runs a handler twice. Handler errors are recorded, never raised; raises
    WebhookEvent.DoesNotExist for an unknown id."""
    _claim_and_run(event_id)
    return WebhookEvent.objects.get(pk=event_id)


def due_webhook_event_ids(*, limit: int, exclude: Iterable[int] = ()) -> list[int]:
    """Ids of claimable events: timed-out claims, then due failed ones, then due received ones,
    each oldest due first."""
    return list(INBOX.due(limit=limit, exclude=exclude))


def process_due_webhooks(
    *,
    limit: int = 500,
    time_budget_seconds: float | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> int:
    """Process due events (and re-run timed-out claims) until none is due, ``limit`` events
    have been tried, ``time_budget_seconds`` have passed, or ``keep_going`` (asked after each
    event) says no (the events already claimed are run first). Each event is tried at most once
    per call; events claimed meanwhile by another worker are skipped. Returns how many this call
    ran. Safe to run in several workers at once. Arrivals waiting (the embedded profile's
    receiver) are moved into the inbox first, a batch per call."""
    webhook_arrivals_move()
    return INBOX.run_due(
        _run, limit=limit, time_budget_seconds=time_budget_seconds, keep_going=keep_going
    )


def webhook_event_replay(
    *, event: WebhookEvent, actor: AbstractBaseUser | AnonymousUser | None = None
) -> WebhookEvent:
    """Really re-run the handler of ``event`` now, whatever state it finished in (processed,
    ignored, failed, dead) or if it is still waiting: it is reset to ``received``, due now, with a
    fresh attempt budget, then processed in this call. Replaying a processed event has no second
    effect because handlers apply facts through idempotent domain services.

    Returns the row afterwards. Raises InvalidTransition while a live worker holds the event
    (``processing`` with a claim younger than WEBHOOK_CLAIM_TIMEOUT_SECONDS); nothing changes then.
    """
    now = timezone.now()
    previous = event.status
    reset = (
        WebhookEvent.objects.filter(pk=event.pk)
        .exclude(INBOX.live_claim(now))
        .update(status=Status.RECEIVED, next_attempt_at=now, attempts=0)
    )
    if not reset:
        current = WebhookEvent.objects.get(pk=event.pk)
        raise InvalidTransition(entity=str(current), current=current.status, target="received")
    result = webhook_event_process(event_id=event.pk)
    log.info(
        "webhook.replayed",
        webhook_event=event.pk,
        provider=result.provider,
        event_type=result.event_type,
        status=result.status,
        actor=actor.get_username() if actor is not None else "system",
    )
    audit("webhook_replay", actor=actor, obj=result, changes={"status": [previous, result.status]})
    return result
