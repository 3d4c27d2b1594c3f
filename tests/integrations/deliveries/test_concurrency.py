"""Deliveries run by concurrent workers: each runs once, and a slow one holds up no other.

These use real threads with their own database connections on the committed test database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from integrations.deliveries.relay import deliver_due, delivery_run
from integrations.models import Delivery
from tests.integrations.deliveries.helpers import Recorder, deliveries_of, emit

pytestmark = pytest.mark.django_db(transaction=True)

JOIN_TIMEOUT = 30


def in_thread(target: Callable[[], Any], results: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            results.append(target())
        except BaseException as exc:  # reported by the test, not lost in the thread
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_workers_draining_at_once_run_each_delivery_exactly_once(subscribe, no_enqueue):
    from tests.factories import make_customer

    crm, mail = Recorder("crm"), Recorder("mail")
    subscribe("crm.sync_note", crm)
    subscribe("mail.notify", mail)
    customer = make_customer()
    events = [emit(customer, excerpt=str(n)) for n in range(15)]
    assert Delivery.objects.filter(status=Delivery.Status.PENDING).count() == 30

    start = threading.Barrier(2)
    results: list[Any] = []

    def drain() -> int:
        start.wait(timeout=JOIN_TIMEOUT)
        return deliver_due()

    threads = [in_thread(drain, results) for _ in range(2)]
    for thread in threads:
        thread.join(JOIN_TIMEOUT)

    assert not any(thread.is_alive() for thread in threads)
    assert all(isinstance(ran, int) for ran in results), results
    assert sum(results) == 30
    assert crm.calls == {event.pk: 1 for event in events}
    assert mail.calls == {event.pk: 1 for event in events}
    assert set(Delivery.objects.values_list("status", "attempts")) == {
        (Delivery.Status.SUCCEEDED, 1)
    }


def test_a_slow_subscriber_does_not_hold_up_another(subscribe, no_enqueue):
    from tests.factories import make_customer

    slow_started, release = threading.Event(), threading.Event()

    def slow(event: Any) -> None:
        slow_started.set()
        assert release.wait(JOIN_TIMEOUT)

    fast = Recorder("mail")
    # The slow one waits on a provider, so it runs outside a transaction (see Subscriber.atomic).
    subscribe("crm.sync_note", slow, atomic=False)
    subscribe("mail.notify", fast)
    event = emit(make_customer())
    deliveries = deliveries_of(event)
    assert len(deliveries) == 2  # one row, and one task, per subscriber

    results: list[Any] = []
    slow_worker = in_thread(
        lambda: delivery_run(delivery_id=deliveries["crm.sync_note"].pk), results
    )
    try:
        assert slow_started.wait(JOIN_TIMEOUT)

        done = delivery_run(delivery_id=deliveries["mail.notify"].pk)

        assert done.status == Delivery.Status.SUCCEEDED
        assert fast.calls == {event.pk: 1}
        still = Delivery.objects.get(pk=deliveries["crm.sync_note"].pk)
        assert still.status == Delivery.Status.RUNNING
    finally:
        release.set()
        slow_worker.join(JOIN_TIMEOUT)

    assert not slow_worker.is_alive()
    (slow_result,) = results
    assert isinstance(slow_result, Delivery), slow_result
    assert slow_result.status == Delivery.Status.SUCCEEDED
