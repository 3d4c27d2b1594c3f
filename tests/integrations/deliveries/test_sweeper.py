"""The sweeper: what a lost task, a broker outage or a dead worker left behind is delivered."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from integrations.deliveries import tasks
from integrations.deliveries.dispatch import delivery_enqueue
from integrations.models import Delivery
from integrations.schedules import ensure_schedules
from tests.integrations.deliveries.helpers import Recorder, deliveries_of, emit, make_overdue


def leave_running(delivery: Delivery, *, claimed_ago: timedelta, attempts: int = 1) -> None:
    """What a worker that died mid-attempt leaves: running, claimed long ago."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.RUNNING, attempts=attempts, claimed_at=timezone.now() - claimed_ago
    )


# --- broker outage ---------------------------------------------------------------------------


def test_a_broker_failure_at_enqueue_leaves_pending_rows_the_sweeper_delivers(
    customer, subscribe, broken_broker, django_capture_on_commit_callbacks
):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)

    with django_capture_on_commit_callbacks(execute=True):
        event = emit(customer)  # the service itself is not disturbed by the outage

    delivery = deliveries_of(event)["crm.sync_note"]
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.attempts == 0
    assert recorder.total_calls == 0

    broken_broker.undo()  # the broker is back
    assert tasks.sweep() == 0  # too fresh: its task may still be on its way
    assert recorder.total_calls == 0

    make_overdue(delivery, by=timedelta(minutes=2))
    assert tasks.sweep() == 1

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 1
    assert recorder.calls == {event.pk: 1}


def test_enqueue_reports_a_broker_failure_instead_of_raising(db, broken_broker):
    started = time.monotonic()
    assert delivery_enqueue(delivery_id=1) is False
    assert time.monotonic() - started < 10


def test_while_the_broker_is_down_the_sweeper_runs_deliveries_itself(
    customer, subscribe, broken_broker
):
    crm, mail = Recorder("crm"), Recorder("mail")
    subscribe("crm.sync_note", crm)
    subscribe("mail.notify", mail)
    event = emit(customer)
    make_overdue(*deliveries_of(event).values(), by=timedelta(minutes=2))

    assert tasks.sweep() == 2

    assert {d.status for d in deliveries_of(event).values()} == {Delivery.Status.SUCCEEDED}
    assert crm.calls == mail.calls == {event.pk: 1}


# --- retries ---------------------------------------------------------------------------------


def test_a_failed_delivery_is_retried_by_the_sweeper_once_due(
    customer, subscribe, django_capture_on_commit_callbacks
):
    recorder = Recorder("crm", fail_times=1)
    subscribe("crm.sync_note", recorder)
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(customer)
    delivery = deliveries_of(event)["crm.sync_note"]
    assert delivery.status == Delivery.Status.FAILED

    assert tasks.sweep() == 0  # not due yet
    make_overdue(delivery)
    assert tasks.sweep() == 1

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert recorder.calls == {event.pk: 2}


# --- crash recovery --------------------------------------------------------------------------


def test_a_delivery_left_running_by_a_dead_worker_is_run_again_exactly_once(
    customer, subscribe, settings
):
    settings.DELIVERY_CLAIM_TIMEOUT_SECONDS = 300
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = deliveries_of(event)["crm.sync_note"]
    leave_running(delivery, claimed_ago=timedelta(seconds=301))

    assert tasks.sweep() == 1
    assert tasks.sweep() == 0

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert recorder.calls == {event.pk: 1}


def test_a_delivery_running_within_its_claim_timeout_is_left_alone(customer, subscribe, settings):
    settings.DELIVERY_CLAIM_TIMEOUT_SECONDS = 300
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = deliveries_of(event)["crm.sync_note"]
    leave_running(delivery, claimed_ago=timedelta(seconds=200))

    assert tasks.sweep() == 0
    assert tasks.run_delivery(delivery.pk) == Delivery.Status.RUNNING

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RUNNING
    assert delivery.attempts == 1
    assert recorder.total_calls == 0


def test_a_rerun_after_the_handler_committed_finds_the_work_done(customer, subscribe):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = deliveries_of(event)["crm.sync_note"]
    tasks.run_delivery(delivery.pk)
    # The worker died after the handler committed, before its outcome was written.
    leave_running(delivery, claimed_ago=timedelta(hours=1))

    assert tasks.sweep() == 1

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert recorder.calls == {event.pk: 2}
    assert recorder.rows(event) == 1  # the idempotent handler did its work once


def test_an_attempt_that_never_finishes_is_given_up_after_max_attempts(customer, subscribe):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder, max_attempts=3)
    event = emit(customer)
    delivery = deliveries_of(event)["crm.sync_note"]
    leave_running(delivery, claimed_ago=timedelta(hours=1), attempts=3)

    tasks.sweep()

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DEAD
    assert "attempt 3 of 3 never finished" in delivery.last_error
    assert recorder.total_calls == 0


# --- task entry points -----------------------------------------------------------------------


def test_the_sweeper_is_scheduled_every_minute(db):
    ensure_schedules()
    schedule = Schedule.objects.get(name="deliveries-sweep")
    assert schedule.func == "integrations.deliveries.tasks.sweep"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 1


def test_the_task_for_a_missing_delivery_is_a_no_op(db):
    assert tasks.run_delivery(987_654_321) == "missing"


@pytest.mark.parametrize("limit", [1, 2])
def test_a_sweep_hands_back_at_most_its_batch(customer, subscribe, settings, limit):
    settings.DELIVERY_SWEEP_BATCH = limit
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    events = [emit(customer, excerpt=str(n)) for n in range(3)]
    make_overdue(*Delivery.objects.filter(event__in=events))

    assert tasks.sweep() == limit
    assert recorder.total_calls == limit
