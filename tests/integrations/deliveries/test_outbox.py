"""The outbox: Delivery rows are written with the event, in its transaction, and each is handed to
its own task after commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from integrations.deliveries import dispatch
from integrations.events import record_event
from integrations.models import Delivery, DomainEvent
from tests.integrations.deliveries.helpers import (
    OTHER_EVENT_TYPE,
    Recorder,
    deliveries_of,
    emit,
)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every async_task call the relay makes, still passed on to the (synchronous) cluster."""
    calls: list[tuple[Any, ...]] = []
    real = dispatch.async_task

    def spy(func: str, *args: Any, **kwargs: Any) -> Any:
        calls.append((func, *args))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(dispatch, "async_task", spy)
    return calls


# --- written with the event ------------------------------------------------------------------


def test_one_pending_delivery_per_matching_subscriber(customer, subscribe):
    subscribe("crm.sync_note", Recorder("crm"))
    subscribe("mail.notify", Recorder("mail"))
    subscribe("shipping.only_orders", Recorder("ship"), event_types=frozenset({OTHER_EVENT_TYPE}))
    before = timezone.now()

    event = emit(customer)

    deliveries = deliveries_of(event)
    assert sorted(deliveries) == ["crm.sync_note", "mail.notify"]
    for delivery in deliveries.values():
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.attempts == 0
        assert delivery.next_attempt_at is not None
        assert before <= delivery.next_attempt_at <= timezone.now()
        assert delivery.claimed_at is None
        assert delivery.completed_at is None


def test_no_delivery_for_a_type_nobody_subscribes_to(customer, subscribe):
    subscribe("shipping.only_orders", Recorder("ship"), event_types=frozenset({OTHER_EVENT_TYPE}))

    event = emit(customer)

    assert not Delivery.objects.filter(event=event).exists()


def test_deliveries_roll_back_with_the_event_and_nothing_is_announced(
    customer, subscribe, django_capture_on_commit_callbacks
):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    events_before = DomainEvent.objects.count()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError, match="service failed"),
        transaction.atomic(),
    ):
        record_event(type="note.added", customer=customer, data={"excerpt": "x"})
        assert Delivery.objects.count() == 1
        raise RuntimeError("service failed")

    assert Delivery.objects.count() == 0
    assert DomainEvent.objects.count() == events_before
    assert callbacks == []
    assert recorder.total_calls == 0


def test_record_event_costs_one_insert_and_one_bulk_insert(
    customer, subscribe, django_assert_num_queries
):
    for name in ("crm.sync_note", "mail.notify", "analytics.track"):
        subscribe(name, Recorder(name))

    with transaction.atomic(), django_assert_num_queries(2) as captured:
        event = record_event(type="note.added", customer=customer, data={"excerpt": "x"})

    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["INSERT", "INSERT"]
    assert Delivery.objects.filter(event=event).count() == 3


def test_record_event_without_subscribers_costs_one_insert(
    customer, subscribe, django_assert_num_queries
):
    subscribe("shipping.only_orders", Recorder("ship"), event_types=frozenset({OTHER_EVENT_TYPE}))

    with transaction.atomic(), django_assert_num_queries(1):
        record_event(type="note.added", customer=customer, data={"excerpt": "x"})


# --- handed to the cluster after commit ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_commit_each_delivery_runs_on_the_cluster_and_succeeds(subscribe):
    from tests.factories import make_customer

    crm, mail = Recorder("crm"), Recorder("mail")
    subscribe("crm.sync_note", crm)
    subscribe("mail.notify", mail)
    customer = make_customer()

    with transaction.atomic():
        event = record_event(type="note.added", customer=customer, data={"excerpt": "x"})
        assert crm.total_calls == mail.total_calls == 0

    assert crm.calls == {event.pk: 1}
    assert mail.calls == {event.pk: 1}
    for delivery in deliveries_of(event).values():
        assert delivery.status == Delivery.Status.SUCCEEDED
        assert delivery.attempts == 1
        assert delivery.completed_at is not None
        assert delivery.next_attempt_at is None
        assert delivery.last_error == ""


def test_each_delivery_is_its_own_task(
    customer, subscribe, enqueued, django_capture_on_commit_callbacks
):
    subscribe("crm.sync_note", Recorder("crm"))
    subscribe("mail.notify", Recorder("mail"))

    with django_capture_on_commit_callbacks(execute=True):
        event = emit(customer)

    pks = sorted(d.pk for d in deliveries_of(event).values())
    assert sorted(enqueued) == [(dispatch.RUN_DELIVERY_TASK, pk) for pk in pks]


def test_a_failing_subscriber_does_not_stop_the_others(
    customer, subscribe, django_capture_on_commit_callbacks
):
    # Registered first, so its delivery is created and queued first.
    subscribe("crm.sync_note", Recorder("crm", fail_times=99))
    mail = Recorder("mail")
    subscribe("mail.notify", mail)

    with django_capture_on_commit_callbacks(execute=True):
        event = emit(customer)

    deliveries = deliveries_of(event)
    assert deliveries["crm.sync_note"].status == Delivery.Status.FAILED
    assert deliveries["mail.notify"].status == Delivery.Status.SUCCEEDED
    assert mail.calls == {event.pk: 1}


def test_nothing_is_queued_for_an_event_without_deliveries(
    customer, subscribe, enqueued, django_capture_on_commit_callbacks, django_assert_num_queries
):
    with django_capture_on_commit_callbacks(execute=True):
        event = emit(customer)
    assert enqueued == []

    with django_assert_num_queries(0):
        dispatch.enqueue_committed_deliveries(sender=DomainEvent, event=event, delivery_ids=())


def test_an_announcement_without_delivery_ids_queues_the_pending_rows(
    customer, subscribe, enqueued, no_enqueue
):
    recorder = Recorder("crm")
    subscribe("crm.sync_note", recorder)
    event = emit(customer)
    delivery = deliveries_of(event)["crm.sync_note"]

    dispatch.enqueue_committed_deliveries(sender=DomainEvent, event=event)

    assert enqueued == [(dispatch.RUN_DELIVERY_TASK, delivery.pk)]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert recorder.calls == {event.pk: 1}
