"""Running one delivery: claim, outcome, backoff, giving up, idempotence, manual retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.deliveries.relay import (
    deliver_due,
    delivery_retry,
    delivery_run,
    retry_delay,
)
from integrations.exceptions import InvalidTransition
from integrations.models import Delivery
from tests.integrations.deliveries.helpers import Recorder, deliveries_of, emit, make_overdue


class RetryLater(Exception):
    """Shaped like integrations.exceptions.ProviderUnavailable: says when to come back."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limited, retry after {retry_after}s")


def single_delivery(event) -> Delivery:
    (delivery,) = deliveries_of(event).values()
    return delivery


# --- success and idempotence -----------------------------------------------------------------


def test_a_due_delivery_runs_once_and_succeeds(customer, subscribe):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 1
    assert delivery.completed_at is not None
    assert recorder.calls == {event.pk: 1}
    assert recorder.rows(event) == 1


def test_running_a_succeeded_delivery_again_does_nothing(customer, subscribe):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    pk = single_delivery(event).pk
    first = delivery_run(delivery_id=pk)

    again = delivery_run(delivery_id=pk)

    assert recorder.calls == {event.pk: 1}
    assert again.status == Delivery.Status.SUCCEEDED
    assert again.attempts == 1
    assert again.completed_at == first.completed_at


def test_a_delivery_not_yet_due_is_not_run(customer, subscribe):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = single_delivery(event)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )

    result = delivery_run(delivery_id=delivery.pk)

    assert result.status == Delivery.Status.PENDING
    assert result.attempts == 0
    assert recorder.total_calls == 0


def test_an_unknown_delivery_id_raises(db):
    with pytest.raises(Delivery.DoesNotExist):
        delivery_run(delivery_id=987_654_321)


# --- failure, backoff, giving up -------------------------------------------------------------


def test_a_failure_is_recorded_with_backoff_and_rolls_back_the_handlers_writes(
    customer, subscribe, settings
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 10.0
    recorder = Recorder("crm", fail_times=1, error=RuntimeError("CRM answered 503"))
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    before = timezone.now()

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 1
    assert delivery.last_error == "RuntimeError: CRM answered 503"
    assert delivery.next_attempt_at is not None
    assert before + timedelta(seconds=8) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=12)
    assert delivery.completed_at is None
    assert recorder.calls == {event.pk: 1}
    assert recorder.rows(event) == 0  # the handler's write rolled back; the bookkeeping did not


def test_a_failed_delivery_waits_for_its_retry_time_then_succeeds(customer, subscribe):
    recorder = Recorder("crm", fail_times=1)
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert deliver_due() == 0
    assert recorder.calls == {event.pk: 1}

    make_overdue(delivery)
    assert deliver_due() == 1

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert recorder.calls == {event.pk: 2}
    assert recorder.rows(event) == 1


def test_the_error_is_short(customer, subscribe):
    subscribe("crm.sync_note", Recorder("crm", fail_times=1, error=ValueError("x" * 5000)))
    event = emit(customer)

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert delivery.last_error.startswith("ValueError: xxx")
    assert len(delivery.last_error) == 500


def test_retry_after_from_the_provider_is_honoured(customer, subscribe):
    subscribe("crm.sync_note", Recorder("crm", fail_times=1, error=RetryLater(600)))
    event = emit(customer)
    before = timezone.now()

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is not None
    assert before + timedelta(seconds=600) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=600)


def test_backoff_doubles_per_attempt_up_to_the_cap_with_jitter(settings):
    settings.DELIVERY_RETRY_BASE_SECONDS = 5.0
    settings.DELIVERY_RETRY_MAX_SECONDS = 60.0
    for attempts, nominal in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (30, 60), (500, 60)]:
        delays = {retry_delay(attempts=attempts).total_seconds() for _ in range(20)}
        assert all(0.8 * nominal <= d <= 1.2 * nominal for d in delays), (attempts, delays)
        assert len(delays) > 1  # jittered


def test_retry_after_may_be_a_timedelta_and_is_never_negative():
    assert retry_delay(attempts=1, error=RetryLater(0)) == timedelta(0)
    error = RetryLater(0)
    error.retry_after = timedelta(minutes=3)  # type: ignore[assignment]
    assert retry_delay(attempts=1, error=error) == timedelta(minutes=3)
    error.retry_after = -5
    assert retry_delay(attempts=1, error=error) == timedelta(0)


def test_dead_after_the_subscribers_max_attempts(customer, subscribe):
    recorder = Recorder("crm", fail_times=99)
    subscribe("crm.sync_note", recorder, max_attempts=2)
    event = emit(customer)
    delivery = delivery_run(delivery_id=single_delivery(event).pk)
    assert delivery.status == Delivery.Status.FAILED

    make_overdue(delivery)
    delivery = delivery_run(delivery_id=delivery.pk)

    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 2
    assert delivery.next_attempt_at is None
    assert delivery.completed_at is not None
    assert delivery.last_error == "RuntimeError: crm is down"
    make_overdue(delivery)
    assert deliver_due() == 0
    assert recorder.calls == {event.pk: 2}


def test_max_attempts_defaults_to_the_setting(customer, subscribe, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    subscribe("crm.sync_note", Recorder("crm", fail_times=99))
    event = emit(customer)

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 1


def test_a_delivery_for_a_removed_subscriber_is_dead_without_running(customer, subscribe):
    from integrations.deliveries.registry import unregister_subscriber

    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    unregister_subscriber("crm.sync_note")

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert delivery.status == Delivery.Status.DEAD
    assert "'crm.sync_note' is not registered" in delivery.last_error
    assert recorder.total_calls == 0


def test_deliver_due_goes_on_past_failing_subscribers(customer, subscribe, no_enqueue):
    subscribe("a.broken", Recorder("broken", fail_times=99))  # created first, run first
    mail = Recorder("mail")
    subscribe("b.mail", mail)
    events = [emit(customer, excerpt=str(n)) for n in range(3)]

    assert deliver_due() == 6

    statuses = Delivery.objects.filter(event__in=events).values_list("subscriber", "status")
    assert sorted(set(statuses)) == [
        ("a.broken", Delivery.Status.FAILED),
        ("b.mail", Delivery.Status.SUCCEEDED),
    ]
    assert mail.calls == {event.pk: 1 for event in events}


def test_deliver_due_respects_its_limit(customer, subscribe, no_enqueue):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    for n in range(3):
        emit(customer, excerpt=str(n))

    assert deliver_due(limit=2) == 2
    assert deliver_due(limit=2) == 1
    assert deliver_due(limit=2) == 0
    assert recorder.total_calls == 3


# --- a claim that was taken over -------------------------------------------------------------


def test_an_attempt_whose_claim_was_taken_over_does_not_overwrite_the_newer_claim(
    customer, subscribe
):
    later = timezone.now() + timedelta(seconds=1)

    def handle(event):
        # Meanwhile another worker decided this attempt was stale and claimed the row itself.
        Delivery.objects.filter(event=event).update(claimed_at=later)

    subscribe("crm.sync_note", handle, atomic=False)
    event = emit(customer)

    delivery = delivery_run(delivery_id=single_delivery(event).pk)

    assert delivery.status == Delivery.Status.RUNNING
    assert delivery.claimed_at == later
    assert delivery.completed_at is None


# --- manual retry ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Delivery.Status.FAILED, Delivery.Status.DEAD])
def test_manual_retry_gives_a_fresh_set_of_attempts_and_runs_after_commit(
    customer, subscribe, admin_user, django_capture_on_commit_callbacks, status
):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = single_delivery(event)
    later = timezone.now() + timedelta(hours=1)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status, attempts=8, next_attempt_at=later, last_error="RuntimeError: down"
    )

    with django_capture_on_commit_callbacks() as callbacks:
        retried = delivery_retry(delivery=delivery, actor=admin_user)
    assert retried.status == Delivery.Status.PENDING
    assert retried.attempts == 0
    assert retried.next_attempt_at is not None
    assert retried.next_attempt_at <= timezone.now()
    assert retried.last_error == "RuntimeError: down"
    assert recorder.total_calls == 0

    for callback in callbacks:
        callback()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert delivery.attempts == 1
    assert recorder.calls == {event.pk: 1}


@pytest.mark.parametrize(
    "status", [Delivery.Status.PENDING, Delivery.Status.RUNNING, Delivery.Status.SUCCEEDED]
)
def test_manual_retry_is_refused_unless_failed_or_dead(
    customer, subscribe, django_capture_on_commit_callbacks, status
):
    subscribe("crm.sync_note", Recorder("crm"))
    event = emit(customer)
    delivery = single_delivery(event)
    Delivery.objects.filter(pk=delivery.pk).update(status=status, attempts=3)

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(InvalidTransition),
    ):
        delivery_retry(delivery=delivery)

    delivery.refresh_from_db()
    assert delivery.status == status
    assert delivery.attempts == 3
    assert callbacks == []
