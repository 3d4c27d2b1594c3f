"""One circuit breaker per provider, shared by every web and worker process through its row.

    closed --(failure ratio reached in the window)--> open
    open --(cool-down over, one caller claims the trial)--> half_open
    half_open --(trial succeeded)--> closed      half_open --(trial failed)--> open

Every transition is a single conditional UPDATE whose WHERE clause re-checks the state it
leaves, and counters grow with ``F() + 1``, so concurrent processes neither lose counts nor both
make the same transition: PostgreSQL makes the second UPDATE wait for the first and then
re-evaluates its WHERE clause on the new row; SQLite runs one writer at a time.

The window is a tumbling window of ``CIRCUIT_BREAKER_WINDOW_SECONDS``: the first call after it
ends starts a fresh one with zeroed counters (one row holds one window; a sliding window would
need the previous window's counters as extra columns). Failures are timeouts, connection errors,
5xx and 429; any other answer, 4xx included, proves the provider is up and counts as a success.

``updated_at`` is set on state changes only. A half-open breaker whose trial was claimed longer
than the trial lease ago (cool-down plus the connect and read timeouts) can be claimed again, so
a worker that died during its trial cannot leave the breaker half-open for ever.

These functions run in the caller's transaction; ``ProviderClient`` runs each of them in a short
transaction of its own, outside any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import F, FloatField, Q, Value
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from integrations.alerts.services import staff_alert_breaker_opened
from integrations.audit_hook import audit
from integrations.models import CircuitBreaker

log = structlog.get_logger(__name__)

State = CircuitBreaker.State


@dataclass(frozen=True)
class Permit:
    """Whether a call may go out now. ``trial`` marks the one call a half-open breaker lets
    through; ``retry_after`` (seconds) is set when the call is refused."""

    allowed: bool
    trial: bool = False
    retry_after: float | None = None


def _cooldown() -> timedelta:
    return timedelta(seconds=settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS)


def _trial_lease() -> timedelta:
    return _cooldown() + timedelta(
        seconds=settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS + settings.OUTBOUND_READ_TIMEOUT_SECONDS
    )


def breaker_permit(provider: str) -> Permit:
    """Ask ``provider``'s breaker whether a call may go out now.

    Closed (or never used): allowed. Open within the cool-down, or half-open with a trial in
    flight: refused, with the seconds left as ``retry_after``. Open after the cool-down: exactly
    one caller across all processes wins the conditional UPDATE to half-open and gets
    ``Permit(allowed=True, trial=True)``; it must report the outcome with ``breaker_record``.
    Makes one query, two when it tries to claim the trial. Never raises for a refusal.
    """
    now = timezone.now()
    row = CircuitBreaker.objects.filter(provider=provider).values("state", "opened_at").first()
    if row is None or row["state"] == State.CLOSED:
        return Permit(allowed=True)
    cooldown = _cooldown()
    opened_at: datetime | None = row["opened_at"]
    if row["state"] == State.OPEN and opened_at is not None and now < opened_at + cooldown:
        return Permit(allowed=False, retry_after=(opened_at + cooldown - now).total_seconds())
    claimable = (
        Q(state=State.OPEN, opened_at__lte=now - cooldown)
        | Q(state=State.OPEN, opened_at__isnull=True)
        | Q(state=State.HALF_OPEN, updated_at__lte=now - _trial_lease())
    )
    claimed = CircuitBreaker.objects.filter(claimable, provider=provider).update(
        state=State.HALF_OPEN, updated_at=now
    )
    if claimed:
        log.info("circuit_breaker.half_open", provider=provider)
        return Permit(allowed=True, trial=True)
    return Permit(allowed=False, retry_after=cooldown.total_seconds())


def breaker_record(provider: str, *, failed: bool, trial: bool = False) -> None:
    """Count one finished attempt against ``provider``'s breaker and make the transition it
    causes: a trial closes (success) or re-opens (failure) the breaker; an ordinary failure opens
    it once the window holds at least ``CIRCUIT_BREAKER_MIN_CALLS`` calls and the failure ratio
    reaches ``CIRCUIT_BREAKER_FAILURE_RATIO``. Creates the row on the provider's first call.
    """
    now = timezone.now()
    rows = CircuitBreaker.objects.filter(provider=provider)
    if trial:
        if failed:
            moved = rows.filter(state=State.HALF_OPEN).update(
                state=State.OPEN, opened_at=now, updated_at=now
            )
        else:
            moved = rows.filter(state=State.HALF_OPEN).update(
                state=State.CLOSED,
                opened_at=None,
                window_started_at=now,
                successes=0,
                failures=0,
                updated_at=now,
            )
        if moved:
            log.warning(
                "circuit_breaker.reopened" if failed else "circuit_breaker.closed",
                provider=provider,
            )
            if failed:
                staff_alert_breaker_opened(provider=provider)  # told to ops after commit
            return
        # Someone reset the breaker during the trial: count it like any other call.
    _count(provider, "failures" if failed else "successes", now)
    if failed:
        _open_if_failing(provider, now)


def _count(provider: str, field: str, now: datetime) -> None:
    cutoff = now - timedelta(seconds=settings.CIRCUIT_BREAKER_WINDOW_SECONDS)
    rows = CircuitBreaker.objects.filter(provider=provider)
    fresh = {"successes": 0, "failures": 0, field: 1}
    for _ in range(3):
        if rows.filter(window_started_at__gt=cutoff).update(**{field: F(field) + 1}):
            return
        if rows.filter(window_started_at__lte=cutoff).update(window_started_at=now, **fresh):
            return
        CircuitBreaker.objects.get_or_create(provider=provider)
    raise RuntimeError(f"Could not count a call for breaker {provider!r}.")  # pragma: no cover


def _open_if_failing(provider: str, now: datetime) -> None:
    cutoff = now - timedelta(seconds=settings.CIRCUIT_BREAKER_WINDOW_SECONDS)
    total = F("successes") + F("failures")
    threshold = Value(float(settings.CIRCUIT_BREAKER_FAILURE_RATIO), output_field=FloatField())
    opened = CircuitBreaker.objects.filter(
        GreaterThanOrEqual(total, Value(settings.CIRCUIT_BREAKER_MIN_CALLS)),
        GreaterThanOrEqual(F("failures"), threshold * total),
        provider=provider,
        state=State.CLOSED,
        window_started_at__gt=cutoff,
    ).update(state=State.OPEN, opened_at=now, updated_at=now)
    if opened:
        log.warning("circuit_breaker.opened", provider=provider)
        staff_alert_breaker_opened(provider=provider)  # told to ops after commit


def breaker_state(provider: str) -> str:
    """The stored state of ``provider``'s breaker: ``closed``, ``open`` or ``half_open``.
    A provider never called is ``closed``. An open breaker stays ``open`` after its cool-down
    until a call claims the trial. One query."""
    state = CircuitBreaker.objects.filter(provider=provider).values_list("state", flat=True).first()
    return state or State.CLOSED


def breaker_states() -> list[dict[str, Any]]:
    """Every provider's breaker (providers that made at least one call), ordered by provider:
    ``provider``, ``state``, ``successes``, ``failures``, ``window_started_at``, ``opened_at``,
    ``updated_at``. One query."""
    rows = CircuitBreaker.objects.order_by("provider").values(
        "provider",
        "state",
        "successes",
        "failures",
        "window_started_at",
        "opened_at",
        "updated_at",
    )
    return cast("list[dict[str, Any]]", list(rows))


def breaker_reset(provider: str, *, actor: AbstractBaseUser | AnonymousUser | None = None) -> bool:
    """Close ``provider``'s breaker by hand and start a fresh window, with an audit log entry
    (``actor``, the state it left). Idempotent; returns False when the provider has no breaker
    row (nothing to reset). The admin action calls this."""
    now = timezone.now()
    before = (
        CircuitBreaker.objects.filter(provider=provider).values_list("state", flat=True).first()
    )
    reset = CircuitBreaker.objects.filter(provider=provider).update(
        state=State.CLOSED,
        opened_at=None,
        window_started_at=now,
        successes=0,
        failures=0,
        updated_at=now,
    )
    if reset:
        log.warning(
            "circuit_breaker.reset",
            provider=provider,
            actor=actor.get_username() if actor is not None else None,
        )
        audit(
            "circuit_breaker_reset",
            actor=actor,
            obj=CircuitBreaker.objects.get(provider=provider),
            changes={"state": [before, State.CLOSED]},
        )
    return bool(reset)
