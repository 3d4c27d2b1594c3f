"""The claim-and-retry engine shared by the webhook inbox and the delivery outbox, tested on its own
over inbox rows: claims, takeovers, fenced outcomes, backoff, the attempt budget, due selection and
the sweeper loop."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from integrations.claims import (
    JITTER,
    ClaimTable,
    attempts_abandoned,
    attempts_used_up,
    backoff_seconds,
)
from integrations.models import WebhookEvent

S = WebhookEvent.Status

# One table per claim path: one statement for a batch (token column), and one row at a time.
BATCHED: ClaimTable[WebhookEvent] = ClaimTable(
    model=WebhookEvent,
    new=S.RECEIVED,
    failed=S.FAILED,
    running=S.PROCESSING,
    dead=S.DEAD,
    claim_timeout_setting="WEBHOOK_CLAIM_TIMEOUT_SECONDS",
    claim_column="claim_token",
)
ONE_BY_ONE: ClaimTable[WebhookEvent] = ClaimTable(
    model=WebhookEvent,
    new=S.RECEIVED,
    failed=S.FAILED,
    running=S.PROCESSING,
    dead=S.DEAD,
    claim_timeout_setting="WEBHOOK_CLAIM_TIMEOUT_SECONDS",
)
TABLES = pytest.mark.parametrize("table", [BATCHED, ONE_BY_ONE], ids=["batched", "one_by_one"])


def _rows(n: int, *, status: str = S.RECEIVED, due_in: timedelta | None = None) -> list[int]:
    now = timezone.now()
    next_attempt_at = now + due_in if due_in is not None else now - timedelta(seconds=1)
    return [
        WebhookEvent.objects.create(
            provider="engine-test",
            event_id=f"evt_{status}_{i}_{uuid.uuid4().hex}",
            body="{}",
            status=status,
            next_attempt_at=next_attempt_at,
        ).pk
        for i in range(n)
    ]


def _age_claim(pk: int, settings: Any, *, by: float = 1) -> None:
    """The claim on ``pk`` is now older than the claim timeout, as if its worker had died."""
    stale = timezone.now() - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT_SECONDS + by)
    WebhookEvent.objects.filter(pk=pk).update(claimed_at=stale)


@TABLES
@pytest.mark.django_db(transaction=True)
def test_two_claimers_racing_for_the_same_rows_never_both_get_one(table):
    pks = _rows(30)
    barrier = threading.Barrier(4)
    got: list[list[int]] = []
    lock = threading.Lock()

    def claimer() -> None:
        try:
            barrier.wait()
            for _ in range(3):  # each claimer goes over the same rows again and again
                claimed = [row.pk for row in table.claim_many(pks)]
                claimed += [pk for pk in pks if table.claim(pk) is not None]
                with lock:
                    got.append(claimed)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every_claim = [pk for claimed in got for pk in claimed]
    assert sorted(every_claim) == sorted(pks)  # each row claimed exactly once, by one claimer
    rows = WebhookEvent.objects.filter(pk__in=pks)
    assert set(rows.values_list("status", "attempts")) == {(S.PROCESSING, 1)}


@TABLES
@pytest.mark.django_db
def test_a_claim_counts_the_attempt_and_a_held_or_waiting_row_is_not_claimed(table):
    [due] = _rows(1)
    [later] = _rows(1, due_in=timedelta(minutes=5))

    first = table.claim(due)
    assert first is not None
    assert (first.status, first.attempts, first.claimed_at is not None) == (S.PROCESSING, 1, True)
    assert table.claim(due) is None  # held by a live worker
    assert table.claim_many([due, later]) == []  # one held, one not due yet
    assert WebhookEvent.objects.get(pk=later).attempts == 0


@TABLES
@pytest.mark.django_db
def test_a_stale_claim_is_taken_over_and_the_old_claims_finish_changes_nothing(table, settings):
    [pk] = _rows(1)
    presumed_dead = table.claim(pk)
    assert presumed_dead is not None
    _age_claim(pk, settings)
    presumed_dead.refresh_from_db()  # the old worker's view, with its (now old) stamp

    [takeover] = table.claim_many([pk])
    assert takeover.attempts == 2
    assert takeover.claimed_at != presumed_dead.claimed_at
    before = WebhookEvent.objects.values().get(pk=pk)

    # The worker presumed dead wakes up: neither its success nor its failure lands.
    assert table.finish(presumed_dead, status=S.PROCESSED, next_attempt_at=None) is False
    failure = table.fail(presumed_dead, dead=True, retry_in=timedelta(0), last_error="late")
    assert (failure.recorded, failure.next_attempt_at) == (False, None)
    assert WebhookEvent.objects.values().get(pk=pk) == before

    # The one that took over records its outcome.
    assert table.finish(takeover, status=S.PROCESSED, next_attempt_at=None) is True
    assert WebhookEvent.objects.get(pk=pk).status == S.PROCESSED


@pytest.mark.django_db
def test_a_claim_that_is_not_stale_yet_is_not_taken_over(settings):
    [pk] = _rows(1)
    assert BATCHED.claim(pk) is not None
    _age_claim(pk, settings, by=-30)  # 30 s short of the timeout
    assert BATCHED.claim(pk) is None
    assert BATCHED.due(limit=10) == []


def test_backoff_doubles_up_to_the_cap_with_jitter_within_bounds():
    random.seed(7)
    base, cap = 10.0, 300.0
    for attempts in range(1, 12):
        nominal = min(cap, base * 2 ** (attempts - 1))
        draws = [backoff_seconds(attempts=attempts, base=base, cap=cap) for _ in range(200)]
        assert all(nominal * (1 - JITTER) <= d <= nominal * (1 + JITTER) for d in draws)
        assert len(set(draws)) > 100  # jittered, not one fixed delay
        assert min(draws) < nominal * 0.9 and max(draws) > nominal * 1.1  # spread over the band
    # Grows: every draw after 3 failures is longer than any after 1; capped however many.
    assert min(backoff_seconds(attempts=3, base=base, cap=cap) for _ in range(100)) > max(
        backoff_seconds(attempts=1, base=base, cap=cap) for _ in range(100)
    )
    assert backoff_seconds(attempts=10_000, base=base, cap=cap) <= cap * (1 + JITTER)
    assert backoff_seconds(attempts=0, base=base, cap=cap) <= base * (1 + JITTER)


@pytest.mark.django_db
def test_a_row_failing_every_time_is_dead_after_max_attempts_and_never_claimed_again():
    max_attempts = 3
    [pk] = _rows(1)
    for attempt in range(1, max_attempts + 1):
        row = BATCHED.claim(pk)
        assert row is not None and row.attempts == attempt
        dead = attempts_used_up(attempts=row.attempts, max_attempts=max_attempts)
        failure = BATCHED.fail(row, dead=dead, retry_in=timedelta(0), last_error="boom")
        assert failure.recorded
        assert (failure.next_attempt_at is None) == (attempt == max_attempts)
        current = WebhookEvent.objects.get(pk=pk)
        assert current.status == (S.DEAD if attempt == max_attempts else S.FAILED)
        assert current.last_error == "boom"
    assert BATCHED.claim(pk) is None
    assert BATCHED.due(limit=10) == []
    assert WebhookEvent.objects.get(pk=pk).attempts == max_attempts


def test_attempt_budget_rules():
    assert [attempts_used_up(attempts=n, max_attempts=3) for n in (1, 2, 3, 4)] == [
        False,
        False,
        True,
        True,
    ]
    # Claimed a fourth time with a budget of three: every earlier worker died on it.
    assert [attempts_abandoned(attempts=n, max_attempts=3) for n in (3, 4)] == [False, True]


@pytest.mark.django_db
def test_a_failed_row_comes_back_only_when_its_retry_time_has_come():
    [pk] = _rows(1)
    row = BATCHED.claim(pk)
    assert row is not None
    failure = BATCHED.fail(row, dead=False, retry_in=timedelta(minutes=10), last_error="later")
    assert failure.next_attempt_at is not None
    assert failure.next_attempt_at > timezone.now() + timedelta(minutes=9)
    assert BATCHED.claim(pk) is None
    assert BATCHED.due(limit=10) == []
    WebhookEvent.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
    assert BATCHED.due(limit=10) == [pk]


@pytest.mark.django_db
def test_due_lists_stale_claims_then_retries_then_new_rows_oldest_first(settings):
    now = timezone.now()
    [stale] = _rows(1)
    assert BATCHED.claim(stale) is not None
    _age_claim(stale, settings)
    new_late, new_early = _rows(2)
    WebhookEvent.objects.filter(pk=new_early).update(next_attempt_at=now - timedelta(minutes=3))
    [retry] = _rows(1, status=S.FAILED)
    [unscheduled] = _rows(1)
    WebhookEvent.objects.filter(pk=unscheduled).update(next_attempt_at=None)
    _rows(1, due_in=timedelta(minutes=1))  # not due
    _rows(1, status=S.PROCESSED)  # finished

    assert BATCHED.due(limit=10) == [stale, retry, unscheduled, new_early, new_late]
    assert BATCHED.due(limit=2) == [stale, retry]
    assert BATCHED.due(limit=10, exclude=[stale, new_early]) == [retry, unscheduled, new_late]
    # New rows wait out a grace (their own task is presumably on its way); retries do not.
    grace = BATCHED.due(limit=10, new_grace=timedelta(minutes=2))
    assert grace == [stale, retry, unscheduled, new_early]


@TABLES
@pytest.mark.django_db
def test_run_due_runs_each_due_row_once_up_to_the_limit(table):
    pks = _rows(45)
    seen: list[int] = []

    def run(row: WebhookEvent) -> None:
        seen.append(row.pk)
        assert table.finish(row, status=S.PROCESSED, next_attempt_at=None)

    assert table.run_due(run, limit=30) == 30
    assert table.run_due(run, limit=30) == 15
    assert table.run_due(run, limit=30) == 0
    assert sorted(seen) == sorted(pks)


@pytest.mark.django_db
def test_run_due_tries_a_row_at_most_once_per_call_even_if_it_is_due_again():
    pks = _rows(3)

    def fail_due_now(row: WebhookEvent) -> None:
        assert BATCHED.fail(row, dead=False, retry_in=timedelta(0), last_error="again").recorded

    assert BATCHED.run_due(fail_due_now, limit=100) == 3
    assert set(WebhookEvent.objects.filter(pk__in=pks).values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_run_due_stops_when_told_but_first_runs_what_it_claimed():
    _rows(50)
    runs: list[int] = []
    answers = iter([True, False])

    def keep_going() -> bool:
        return next(answers, False)

    def run(row: WebhookEvent) -> None:
        runs.append(row.pk)
        BATCHED.finish(row, status=S.PROCESSED, next_attempt_at=None)

    ran = BATCHED.run_due(run, limit=500, keep_going=keep_going)

    # Told to stop after the second row: the rest of its batch still runs, no next batch is taken.
    assert ran == len(runs) == 20
    assert not WebhookEvent.objects.filter(status=S.PROCESSING).exists()
    assert WebhookEvent.objects.filter(status=S.RECEIVED).count() == 30


@pytest.mark.django_db
def test_run_due_respects_its_time_budget(monkeypatch):
    _rows(5)
    clock = iter([0.0, 100.0])
    monkeypatch.setattr("integrations.claims.monotonic", lambda: next(clock, 200.0))
    run: Callable[[WebhookEvent], None] = lambda row: None  # noqa: E731
    assert BATCHED.run_due(run, limit=500, time_budget_seconds=10) == 0
