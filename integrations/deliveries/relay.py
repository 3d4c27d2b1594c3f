"""Running deliveries: claim the row, call its subscriber, record the outcome.

A claim is what makes a delivery run at most once at a time, however many tasks, sweepers or
threads ask for it: only the caller whose claim succeeds calls the subscriber. A claim that is
never finished (the worker died) goes stale after ``DELIVERY_CLAIM_TIMEOUT_SECONDS`` and may be
taken again, so a subscriber may see an event twice and must be idempotent on the event id. The
claims, backoff, attempt budget and due selection are the shared engine's (``integrations.claims``,
the table ``OUTBOX``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from integrations.alerts.services import staff_alert_delivery_dead
from integrations.audit_hook import audit
from integrations.claims import ClaimTable, attempts_abandoned, attempts_used_up, backoff_seconds
from integrations.deliveries.dispatch import delivery_enqueue
from integrations.deliveries.registry import get_subscriber
from integrations.exceptions import ProviderRejected
from integrations.models import Delivery
from integrations.transitions import Transitions, ensure_transition, lock

log = structlog.get_logger(__name__)

Status = Delivery.Status

DELIVERY_TRANSITIONS: Transitions = {
    Status.PENDING: frozenset({Status.RUNNING}),
    # running -> running: a stale claim taken over after its worker died.
    Status.RUNNING: frozenset({Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.DEAD}),
    Status.FAILED: frozenset({Status.RUNNING, Status.PENDING}),
    Status.DEAD: frozenset({Status.PENDING}),
    Status.SUCCEEDED: frozenset(),
}
"""Claims and outcomes are enforced by conditional UPDATEs; manual retries by this map."""

OUTBOX: ClaimTable[Delivery] = ClaimTable(
    model=Delivery,
    new=Status.PENDING,
    failed=Status.FAILED,
    running=Status.RUNNING,
    dead=Status.DEAD,
    claim_timeout_setting="DELIVERY_CLAIM_TIMEOUT_SECONDS",
    related=("event",),
)

LAST_ERROR_MAX_CHARS = 500
# 4xx answers that mean "not now" rather than "never": request timeout, conflict (e.g. Stripe's
# concurrent use of an idempotency key), too many requests.
RETRYABLE_REJECTION_STATUSES = frozenset({408, 409, 429})


def delivery_run(*, delivery_id: int) -> Delivery:
    """Run one delivery if it is due, and return its row as it then is.

    Claims the row (pending or failed whose ``next_attempt_at`` has come, or running with a stale
    claim) and counts the attempt; a row that is not due, already done or claimed by another
    worker is returned untouched, without calling the subscriber. The subscriber's ``handle`` runs
    in ``transaction.atomic`` (unless it opted out), so a failed attempt leaves none of its writes;
    the outcome is committed separately: succeeded, failed with ``last_error`` and a backoff
    ``next_attempt_at`` (an exception's ``retry_after`` wins), or dead once the subscriber's
    attempts are used up, at once for an error retrying cannot help (``is_terminal``: a
    provider's rejection), or when it is no longer registered.

    Never raises for a failing subscriber. Raises Delivery.DoesNotExist for an unknown id, and
    database errors of its own bookkeeping (the claim then goes stale and is retried).
    """
    delivery = _run(delivery_id)
    if delivery is None:
        return Delivery.objects.select_related("event").get(pk=delivery_id)
    return delivery


def deliver_due(*, limit: int = 500) -> int:
    """Run due deliveries here, one after another, and return how many this call ran.

    Due: pending or failed with ``next_attempt_at`` passed, or running with a stale claim. Rows
    another worker claims first are skipped, so concurrent callers run each delivery once. A
    failing subscriber is recorded by ``delivery_run``; a run that breaks for another reason is
    logged and the loop goes on. For benchmarks, tests and a cluster-less drain; the sweeper
    sends each delivery to its own task instead.
    """
    return OUTBOX.run_due(_work_guarded, limit=limit)


def deliveries_sweep(*, limit: int | None = None) -> int:
    """Send back to the task cluster what a crash or a lost task left behind; return the count.

    Picks failed deliveries whose retry time has come, pending ones that have waited longer than
    ``DELIVERY_SWEEP_PENDING_AFTER_SECONDS`` and running ones with a stale claim, and queues one
    task each (a duplicate task is harmless: it finds the row claimed or done). If the broker
    refuses, the rest of the batch runs here instead, so work still moves. Never raises for a
    failing subscriber or broker.
    """
    delivery_ids = deliveries_due(
        limit=limit or settings.DELIVERY_SWEEP_BATCH,
        pending_grace=timedelta(seconds=settings.DELIVERY_SWEEP_PENDING_AFTER_SECONDS),
    )
    broker_up = True
    for delivery_id in delivery_ids:
        if broker_up and delivery_enqueue(delivery_id=delivery_id):
            continue
        if broker_up:
            log.warning("delivery.sweep_running_inline", remaining=len(delivery_ids))
        broker_up = False
        try:
            _run(delivery_id)
        except Exception:  # one broken delivery must not stop the others
            log.exception("delivery.run_crashed", delivery_id=delivery_id)
    return len(delivery_ids)


def delivery_retry(*, delivery: Delivery, actor: AbstractBaseUser | None = None) -> Delivery:
    """Give a failed or dead delivery a fresh set of attempts, due now, and queue it on commit.

    Raises InvalidTransition (nothing changed) for a delivery that is pending, running or
    succeeded. ``last_error`` is kept for reference; ``actor`` is logged and the retry written
    to the audit log in the same transaction.
    """
    with transaction.atomic():
        delivery = lock(delivery)
        ensure_transition(
            entity="Delivery",
            current=delivery.status,
            target=Status.PENDING,
            allowed=DELIVERY_TRANSITIONS,
        )
        previous = delivery.status
        delivery.status = Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.completed_at = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "completed_at"])
        audit(
            "delivery_retried",
            actor=actor,
            obj=delivery,
            changes={"status": [previous, Status.PENDING]},
        )
        transaction.on_commit(partial(delivery_enqueue, delivery_id=delivery.pk))
    log.info(
        "delivery.retried",
        delivery_id=delivery.pk,
        subscriber=delivery.subscriber,
        previous_status=previous,
        actor_id=actor.pk if actor is not None else None,
    )
    return delivery


def deliveries_due(
    *, limit: int, now: datetime | None = None, pending_grace: timedelta = timedelta(0)
) -> list[int]:
    """Pks of deliveries that may be claimed now, stale claims first, then retries, then new ones.

    Pending rows count only once ``next_attempt_at`` is ``pending_grace`` old. Each status is its
    own query on the ``(status, next_attempt_at)`` index, oldest first, so a backlog is not
    sorted as a whole."""
    return list(OUTBOX.due(limit=limit, now=now, new_grace=pending_grace))


def retry_delay(*, attempts: int, error: BaseException | None = None) -> timedelta:
    """How long to wait after failed attempt number ``attempts``.

    An error's ``retry_after`` (seconds, a timedelta or a datetime, as ProviderUnavailable
    carries) is honoured as given; otherwise exponential backoff, capped, with a 0.8-1.2 jitter so
    many deliveries failing together do not come back together."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, datetime):
        retry_after = retry_after - timezone.now()
    if isinstance(retry_after, timedelta):
        return max(retry_after, timedelta(0))
    if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
        return timedelta(seconds=max(float(retry_after), 0.0))
    seconds = backoff_seconds(
        attempts=attempts,
        base=settings.DELIVERY_RETRY_BASE_SECONDS,
        cap=settings.DELIVERY_RETRY_MAX_SECONDS,
    )
    return timedelta(seconds=seconds)


def is_terminal(error: BaseException) -> bool:
    """Whether retrying the subscriber cannot help: a ``ProviderRejected`` (the provider answered
    and said no: a 4xx, e.g. Asaas's ``invalid_*`` codes, or a request our adapter refused to
    send), unless its status is one a provider uses for "try again" (408, 409, 429). Anything
    else, ``ProviderUnavailable`` first, is retried with backoff."""
    return (
        isinstance(error, ProviderRejected)
        and error.status_code not in RETRYABLE_REJECTION_STATUSES
    )


def _claim(delivery_id: int) -> Delivery | None:
    """Mark the delivery running and count the attempt, if it is claimable; else None."""
    return OUTBOX.claim(delivery_id)


def _run(delivery_id: int) -> Delivery | None:
    """Claim and run one delivery; None when it was not claimable."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    return _work(delivery)


def _work_guarded(delivery: Delivery) -> None:
    try:
        _work(delivery)
    except Exception:  # one broken delivery must not stop the others
        log.exception("delivery.run_crashed", delivery_id=delivery.pk)


def _work(delivery: Delivery) -> Delivery:
    """Call the subscriber of a delivery this worker has claimed, and record the outcome."""
    subscriber = get_subscriber(delivery.subscriber)
    if subscriber is None:
        return _finish(
            delivery,
            status=Status.DEAD,
            last_error=f"Subscriber {delivery.subscriber!r} is not registered (removed or renamed).",
        )
    max_attempts = subscriber.max_attempts or settings.DELIVERY_MAX_ATTEMPTS
    if attempts_abandoned(attempts=delivery.attempts, max_attempts=max_attempts):
        return _finish(
            delivery,
            status=Status.DEAD,
            last_error=(
                f"Gave up: attempt {delivery.attempts - 1} of {max_attempts} never finished "
                "(worker stopped or timed out)."
            ),
        )
    try:
        if subscriber.atomic:
            with transaction.atomic():
                subscriber.handle(delivery.event)
        else:
            subscriber.handle(delivery.event)
    except Exception as exc:  # the subscriber is a boundary: record the error, retry later
        error = f"{type(exc).__name__}: {exc}"[:LAST_ERROR_MAX_CHARS]
        terminal = is_terminal(exc)
        log.warning(
            "delivery.failed",
            delivery_id=delivery.pk,
            subscriber=delivery.subscriber,
            event_id=delivery.event_id,
            attempt=delivery.attempts,
            terminal=terminal,
            exc_info=True,
        )
        if terminal or attempts_used_up(attempts=delivery.attempts, max_attempts=max_attempts):
            return _finish(delivery, status=Status.DEAD, last_error=error)
        return _finish(
            delivery,
            status=Status.FAILED,
            last_error=error,
            next_attempt_at=timezone.now() + retry_delay(attempts=delivery.attempts, error=exc),
        )
    return _finish(delivery, status=Status.SUCCEEDED)


def _finish(
    delivery: Delivery,
    *,
    status: str,
    last_error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> Delivery:
    """Record the outcome of our claim; if the claim was taken over meanwhile, leave the row to
    the newer claim and return it as it is."""
    now = timezone.now()
    fields: dict[str, Any] = {"status": status, "next_attempt_at": next_attempt_at}
    if status in (Status.SUCCEEDED, Status.DEAD):
        fields["completed_at"] = now
    if last_error is not None:
        fields["last_error"] = last_error
    if not OUTBOX.finish(delivery, **fields):
        log.warning("delivery.claim_lost", delivery_id=delivery.pk, outcome=status)
        return Delivery.objects.select_related("event").get(pk=delivery.pk)
    for name, value in fields.items():
        setattr(delivery, name, value)
    if status == Status.DEAD:
        staff_alert_delivery_dead(delivery=delivery)  # told to ops after commit
    if status != Status.FAILED:
        log_method = log.info if status == Status.SUCCEEDED else log.error
        log_method(
            f"delivery.{status}",
            delivery_id=delivery.pk,
            subscriber=delivery.subscriber,
            event_id=delivery.event_id,
            attempts=delivery.attempts,
        )
    return delivery
