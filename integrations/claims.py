"""One claim-and-retry engine for every table of work rows: the webhook inbox and the delivery
outbox.

A row is worked by whoever *claims* it. The claim moves the row to its running status, counts the
attempt and stamps ``claimed_at``, atomically: ``SELECT ... FOR UPDATE SKIP LOCKED`` where the
database has it (PostgreSQL), one conditional UPDATE elsewhere (SQLite, whose write lock makes
concurrent claims take turns). The stamp is the claim's fencing token: an outcome is recorded only
while the row still carries it, so a worker presumed dead and taken over can never overwrite the
outcome of the one that took over. A table with a token column also gets a fresh random token on
every claim, which is how a batch claim finds its own rows. A claim older than the table's claim
timeout is stale and may be taken again (the worker died), so whatever a row runs must be
idempotent. A failed attempt is retried after an exponential backoff with jitter; a row is dead
once its attempts are used up.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import monotonic
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import F, Q
from django.utils import timezone

Row = TypeVar("Row", bound=models.Model)

CLAIM_BATCH = 20
"""Rows claimed per statement by ``run_due``: small, so a dying worker strands few."""
JITTER = 0.2
"""Backoff delays are spread by ±20 % so rows that failed together do not come back together."""


def backoff_seconds(*, attempts: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt number ``attempts``: ``base`` doubled per earlier
    failure, at most ``cap``, then spread by ±JITTER."""
    delay = min(cap, base * 2 ** min(max(attempts - 1, 0), 62))
    return delay * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not cryptography


def attempts_used_up(*, attempts: int, max_attempts: int) -> bool:
    """Whether a row that failed attempt number ``attempts`` is dead rather than retried."""
    return attempts >= max_attempts


def attempts_abandoned(*, attempts: int, max_attempts: int) -> bool:
    """Whether a freshly claimed row is past its budget: only a stale claim taken over gets there,
    so every earlier attempt's worker died on it. It is dead without running again."""
    return attempts > max_attempts


@dataclass(frozen=True)
class Failure:
    """What ``ClaimTable.fail`` recorded: ``recorded`` is False when the claim was lost (nothing
    changed); ``next_attempt_at`` is None when the row is dead."""

    recorded: bool
    next_attempt_at: datetime | None


class ClaimTable(Generic[Row]):
    """The claim-and-retry rules of one table of work rows.

    The model needs ``status``, ``attempts``, ``next_attempt_at`` and ``claimed_at``. A row is
    claimable when it waits (``new`` or ``failed``) and its ``next_attempt_at`` has come (or was
    never set), or when it is ``running`` under a claim older than the setting named
    ``claim_timeout_setting`` (seconds). ``claim_column`` names a column that takes a fresh random
    token on every claim (needed by ``claim_many`` to claim in one statement; without it rows are
    claimed one by one). ``related`` is passed to ``select_related`` for claimed rows."""

    def __init__(
        self,
        *,
        model: type[Row],
        new: str,
        failed: str,
        running: str,
        dead: str,
        claim_timeout_setting: str,
        claim_column: str | None = None,
        related: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.new = new
        self.failed = failed
        self.running = running
        self.dead = dead
        self.claim_timeout_setting = claim_timeout_setting
        self.claim_column = claim_column
        self.related = tuple(related)

    @property
    def objects(self) -> models.QuerySet[Row]:
        return self.model._default_manager.all()

    def stale_before(self, now: datetime) -> datetime:
        """Claims stamped before this are presumed dead."""
        return now - timedelta(seconds=getattr(settings, self.claim_timeout_setting))

    def claimable(self, now: datetime) -> Q:
        due = Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True)
        return (Q(status__in=[self.new, self.failed]) & due) | Q(
            status=self.running, claimed_at__lt=self.stale_before(now)
        )

    def live_claim(self, now: datetime) -> Q:
        """Rows a live worker holds (running under a claim that is not stale)."""
        return Q(status=self.running, claimed_at__gte=self.stale_before(now))

    def _claim_fields(self, now: datetime) -> dict[str, Any]:
        fields: dict[str, Any] = {"status": self.running, "claimed_at": now}
        if self.claim_column:
            fields[self.claim_column] = uuid.uuid4().hex
        return fields

    def _skips_locked(self) -> bool:
        connection = connections[router.db_for_write(self.model)]
        return bool(connection.features.has_select_for_update_skip_locked)

    def claim(self, pk: Any) -> Row | None:
        """Claim the row and return it (its attempt counted), or None if it is not claimable now:
        finished, waiting for its retry time, or held by a live worker."""
        now = timezone.now()
        fields = self._claim_fields(now)
        if self._skips_locked():
            connection = connections[router.db_for_write(self.model)]
            of = ("self",) if self.related and connection.features.has_select_for_update_of else ()
            with transaction.atomic(using=connection.alias):
                row = (
                    self.objects.select_for_update(skip_locked=True, of=of)
                    .select_related(*self.related)
                    .filter(self.claimable(now), pk=pk)
                    .first()
                )
                if row is None:
                    return None
                for name, value in fields.items():
                    setattr(row, name, value)
                row.attempts += 1  # type: ignore[attr-defined]
                row.save(update_fields=[*fields, "attempts"])
                return row
        if not self.objects.filter(self.claimable(now), pk=pk).update(
            attempts=F("attempts") + 1, **fields
        ):
            return None
        return self.objects.select_related(*self.related).get(pk=pk)

    def claim_many(self, pks: Iterable[Any]) -> list[Row]:
        """Claim whichever of ``pks`` are claimable, in one statement where the table has a token
        column (one by one otherwise); return the rows claimed, by pk. The fresh token marks this
        claim's rows, so two workers claiming in the same microsecond never take each other's."""
        pks = list(pks)
        if not self.claim_column:
            return [row for row in (self.claim(pk) for pk in sorted(pks)) if row is not None]
        now = timezone.now()
        fields = self._claim_fields(now)
        if self._skips_locked():
            with transaction.atomic(using=router.db_for_write(self.model)):
                ids = list(
                    self.objects.select_for_update(skip_locked=True)
                    .filter(self.claimable(now), pk__in=pks)
                    .values_list("pk", flat=True)
                )
                self.objects.filter(pk__in=ids).update(attempts=F("attempts") + 1, **fields)
        else:
            self.objects.filter(self.claimable(now), pk__in=pks).update(
                attempts=F("attempts") + 1, **fields
            )
        token = {self.claim_column: fields[self.claim_column]}
        return list(
            self.objects.select_related(*self.related).filter(pk__in=pks, **token).order_by("pk")
        )

    def finish(self, row: Row, **fields: Any) -> bool:
        """Write ``fields`` (the outcome) only if ``row``'s claim still holds it; returns whether
        it did. A claim lost to a takeover changes nothing."""
        return bool(
            self.objects.filter(
                pk=row.pk,
                status=self.running,
                claimed_at=row.claimed_at,  # type: ignore[attr-defined]
            ).update(**fields)
        )

    def fail(self, row: Row, *, dead: bool, retry_in: timedelta, **fields: Any) -> Failure:
        """Record a failed attempt under ``row``'s claim: dead (no next attempt), or failed and due
        again after ``retry_in``. Nothing changes if the claim was lost."""
        next_attempt_at = None if dead else timezone.now() + retry_in
        recorded = self.finish(
            row,
            status=self.dead if dead else self.failed,
            next_attempt_at=next_attempt_at,
            **fields,
        )
        return Failure(recorded=recorded, next_attempt_at=next_attempt_at)

    def due(
        self,
        *,
        limit: int,
        exclude: Iterable[Any] = (),
        now: datetime | None = None,
        new_grace: timedelta = timedelta(0),
    ) -> list[Any]:
        """Pks of claimable rows: stale claims first, then due retries, then new rows (those only
        once their ``next_attempt_at`` is ``new_grace`` old), each oldest first (a waiting row that
        was never scheduled first of all). One query per status on its ``(status,
        next_attempt_at)`` index, so a backlog is never sorted as a whole."""
        now = now or timezone.now()
        excluded = list(exclude)
        rows = self.objects
        queries = [
            rows.filter(status=self.running, claimed_at__lt=self.stale_before(now)).order_by(
                "claimed_at", "pk"
            )
        ]
        for status, until in ((self.failed, now), (self.new, now - new_grace)):
            queries.append(rows.filter(status=status, next_attempt_at__isnull=True).order_by("pk"))
            queries.append(
                rows.filter(status=status, next_attempt_at__lte=until).order_by(
                    "next_attempt_at", "pk"
                )
            )
        found: list[Any] = []
        for query in queries:
            if len(found) >= limit:
                break
            if excluded:
                query = query.exclude(pk__in=excluded)
            found.extend(query.values_list("pk", flat=True)[: limit - len(found)])
        return found

    def run_due(
        self,
        run: Callable[[Row], object],
        *,
        limit: int,
        time_budget_seconds: float | None = None,
        keep_going: Callable[[], bool] | None = None,
    ) -> int:
        """The sweeper loop: claim due rows a batch at a time and ``run`` each, until none is due,
        ``limit`` rows have been tried, ``time_budget_seconds`` have passed, or ``keep_going``
        (asked after every row) said no; the rows already claimed are run first. Each row is
        tried at most once per call; rows another worker claims first are skipped. Returns how
        many rows this call claimed and ran. Safe to run in several workers at once."""
        deadline = None if time_budget_seconds is None else monotonic() + time_budget_seconds
        tried: set[Any] = set()
        ran = 0
        going = True
        while going and len(tried) < limit:
            if deadline is not None and monotonic() >= deadline:
                break
            batch = self.due(limit=min(CLAIM_BATCH, limit - len(tried)), exclude=tried)
            if not batch:
                break
            tried.update(batch)
            # Claimed together, run one by one: each row still commits (or fails) on its own.
            for row in self.claim_many(batch):
                run(row)
                ran += 1
                if keep_going is not None and not keep_going():
                    going = False
        return ran
