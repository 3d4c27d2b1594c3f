"""The task queue cannot be flooded by the inbox's own wake-ups: a drain is queued only into a free
drain place (half the task workers by default), a drain that ends wakes a successor if work is due,
and the sweeper still runs everything when wakes are lost."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.models.webhooks import WebhookDrainSlot
from integrations.webhooks import inbox, tasks
from integrations.webhooks.inbox import DRAIN_TASK, webhook_drain_places
from integrations.webhooks.tasks import drain, sweep
from tests.integrations.webhooks.support import signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The broker accepts every task but no worker runs it (the wake is lost or still waiting);
    records each task's function and keyword arguments."""
    import django_q.tasks

    calls: list[dict[str, Any]] = []

    def enqueue(func: str, *args: Any, **kwargs: Any) -> str:
        calls.append({"func": func, "args": args, **kwargs})
        return "queued"

    monkeypatch.setattr(django_q.tasks, "async_task", enqueue)
    return calls


@pytest.fixture
def no_coalescing(settings: Any) -> Any:
    """Every stored event tries to wake a drain (no per-process window), as the worst case."""
    settings.WEBHOOK_WAKE_WINDOW_SECONDS = 0
    inbox._last_wake = -1e9
    return settings


def _held() -> list[int]:
    return list(
        WebhookDrainSlot.objects.exclude(token="")
        .filter(held_until__gte=timezone.now())
        .values_list("slot", flat=True)
    )


def test_a_burst_of_stored_events_queues_no_more_drains_than_places(
    handlers, deliver, queued, no_coalescing
):
    no_coalescing.Q_CLUSTER = {**no_coalescing.Q_CLUSTER, "workers": 4}
    for i in range(50):
        assert deliver(*signed("test.unhandled", {"id": f"obj_{i}"})).status_code == 200
    assert [call["func"] for call in queued] == [DRAIN_TASK, DRAIN_TASK]
    assert sorted(call["slot"] for call in queued) == [0, 1]
    assert sorted(_held()) == [0, 1]
    assert WebhookEvent.objects.filter(status="received").count() == 50


@pytest.mark.parametrize(
    ("workers", "configured", "places"),
    [(1, 0, 1), (2, 0, 1), (4, 0, 2), (9, 0, 4), (4, 3, 3)],
)
def test_drain_places_are_half_the_workers_unless_configured(settings, workers, configured, places):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": workers}
    settings.WEBHOOK_DRAIN_CONCURRENCY = configured
    assert webhook_drain_places() == places


def test_a_drain_that_ends_with_work_due_wakes_a_successor(
    handlers, deliver, queued, no_coalescing
):
    no_coalescing.WEBHOOK_DRAIN_CONCURRENCY = 1
    for i in range(3):
        deliver(*signed("test.unhandled", {"id": f"obj_{i}"}))
    [first] = queued
    no_coalescing.WEBHOOK_DRAIN_MAX_SECONDS = 0  # its time is up before it runs anything

    assert drain(slot=first["slot"], token=first["token"]) == 0

    assert len(queued) == 2
    successor = queued[1]
    assert (successor["slot"], successor["token"] != first["token"]) == (0, True)
    assert WebhookDrainSlot.objects.get(slot=0).token == successor["token"]
    no_coalescing.WEBHOOK_DRAIN_MAX_SECONDS = 5
    assert drain(slot=successor["slot"], token=successor["token"]) == 3
    assert len(queued) == 2  # nothing left: no further wake
    assert _held() == []
    assert not WebhookEvent.objects.filter(status="received").exists()


def test_an_event_stored_after_the_drains_last_look_is_not_left_behind(
    handlers, deliver, queued, no_coalescing, monkeypatch
):
    # The event commits after the drain's last poll; its own wake found the place held, so only
    # the ending drain can see it.
    no_coalescing.WEBHOOK_DRAIN_CONCURRENCY = 1
    deliver(*signed("test.unhandled", {"id": "obj_first"}))
    [first] = queued
    real = tasks.process_due_webhooks
    calls = []

    def last_poll_then_a_late_event(**kwargs: Any) -> int:
        ran = real(**kwargs)
        calls.append(ran)
        if len(calls) == 2:
            deliver(*signed("test.unhandled", {"id": "obj_late"}))
        return ran

    monkeypatch.setattr(tasks, "process_due_webhooks", last_poll_then_a_late_event)
    assert drain(slot=first["slot"], token=first["token"]) == 1
    assert calls == [1, 0]
    assert len(queued) == 2  # the late event's wake queued nothing; the ending drain did
    assert WebhookEvent.objects.filter(status="received").count() == 1


def test_a_drain_whose_place_was_taken_over_returns_at_once(handlers, deliver, queued):
    deliver(*signed("test.unhandled", {"id": "obj_1"}))
    [first] = queued
    later = timezone.now() + timedelta(minutes=5)
    WebhookDrainSlot.objects.filter(slot=first["slot"]).update(token="other", held_until=later)
    assert drain(slot=first["slot"], token=first["token"]) == 0
    assert WebhookEvent.objects.get().status == "received"
    assert WebhookDrainSlot.objects.get(slot=first["slot"]).token == "other"


def test_a_place_whose_task_was_lost_is_free_again_after_the_hold_time(
    handlers, deliver, queued, no_coalescing
):
    no_coalescing.WEBHOOK_DRAIN_CONCURRENCY = 1
    no_coalescing.WEBHOOK_DRAIN_MAX_SECONDS = 0.1
    no_coalescing.WEBHOOK_DRAIN_QUEUE_GRACE_SECONDS = 0.2
    deliver(*signed("test.unhandled", {"id": "obj_1"}))
    deliver(*signed("test.unhandled", {"id": "obj_2"}))
    assert len(queued) == 1
    time.sleep(0.35)
    deliver(*signed("test.unhandled", {"id": "obj_3"}))
    assert len(queued) == 2
    # The lost task, run at last, finds its place taken and leaves the work to the new one.
    assert drain(slot=queued[0]["slot"], token=queued[0]["token"]) == 0


def test_a_broker_failure_lets_the_place_go(handlers, deliver, broker_down, no_coalescing):
    assert deliver(*signed("test.unhandled", {"id": "obj_1"})).status_code == 200
    assert _held() == []


def test_the_sweeper_runs_every_event_when_every_wake_is_lost(
    handlers, deliver, queued, no_coalescing, customer
):
    for i in range(30):
        body, headers = signed("customer.linked", {"id": f"cus_{i}", "customer_pk": customer.pk})
        deliver(body, headers)
    assert len(queued) == webhook_drain_places()
    assert sweep() == 30
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert len(handlers.calls) == 30


def test_drains_run_inline_in_tests_and_let_their_place_go(handlers, deliver, customer):
    # Test settings run tasks synchronously: the woken drain runs at once and lets go.
    body, headers = signed("customer.linked", {"id": "cus_x", "customer_pk": customer.pk})
    assert deliver(body, headers).status_code == 200
    assert WebhookEvent.objects.get().status == "processed"
    assert _held() == []


class _Killed(BaseException):
    """The worker dies mid-drain (kill -9): no ``finally`` of ours lets the place go."""


@pytest.fixture
def short_lease(no_coalescing: Any) -> Any:
    no_coalescing.WEBHOOK_DRAIN_CONCURRENCY = 1
    no_coalescing.WEBHOOK_DRAIN_MAX_SECONDS = 45
    no_coalescing.WEBHOOK_DRAIN_QUEUE_GRACE_SECONDS = 60
    no_coalescing.WEBHOOK_DRAIN_LEASE_SECONDS = 0.3
    return no_coalescing


def test_a_drain_killed_mid_run_frees_its_place_within_the_lease(
    handlers, deliver, queued, short_lease, monkeypatch
):
    deliver(*signed("test.unhandled", {"id": "obj_1"}))
    [first] = queued

    def killed(**kwargs: Any) -> int:
        raise _Killed

    real = tasks.process_due_webhooks, tasks.webhook_drain_place_release
    monkeypatch.setattr(tasks, "process_due_webhooks", killed)
    monkeypatch.setattr(tasks, "webhook_drain_place_release", lambda **kwargs: None)
    with pytest.raises(_Killed):
        drain(slot=first["slot"], token=first["token"])
    tasks.process_due_webhooks, tasks.webhook_drain_place_release = real
    assert WebhookDrainSlot.objects.get(slot=0).token == first["token"]

    deliver(*signed("test.unhandled", {"id": "obj_2"}))
    assert len(queued) == 1  # within the lease the place is still the dead drain's
    time.sleep(0.4)
    deliver(*signed("test.unhandled", {"id": "obj_3"}))
    assert len(queued) == 2  # not WEBHOOK_DRAIN_QUEUE_GRACE_SECONDS (60 s) later: the lease
    assert WebhookDrainSlot.objects.get(slot=0).token == queued[1]["token"]
    assert drain(slot=queued[1]["slot"], token=queued[1]["token"]) == 3


def test_a_queued_drain_keeps_its_place_for_the_queue_grace_not_the_lease(
    handlers, deliver, queued, short_lease
):
    short_lease.WEBHOOK_DRAIN_LEASE_SECONDS = 0.1
    deliver(*signed("test.unhandled", {"id": "obj_1"}))
    time.sleep(0.3)  # the drain waits in the queue, longer than a lease
    deliver(*signed("test.unhandled", {"id": "obj_2"}))
    assert len(queued) == 1
    assert drain(slot=queued[0]["slot"], token=queued[0]["token"]) == 2


def test_a_running_drain_renews_its_lease_so_its_place_stays_held(
    handlers, deliver, queued, short_lease, monkeypatch
):
    short_lease.WEBHOOK_DRAIN_LINGER_SECONDS = 1.2
    deliver(*signed("test.unhandled", {"id": "obj_1"}))
    [first] = queued
    real = tasks.process_due_webhooks
    started = time.monotonic()
    held_for: list[float] = []

    def late_event_while_running(**kwargs: Any) -> int:
        if not held_for and time.monotonic() - started > 0.8:  # well past one lease
            until = WebhookDrainSlot.objects.get(slot=0).held_until
            assert until is not None
            held_for.append((until - timezone.now()).total_seconds())
            deliver(*signed("test.unhandled", {"id": "obj_late"}))
        return real(**kwargs)

    monkeypatch.setattr(tasks, "process_due_webhooks", late_event_while_running)
    assert drain(slot=first["slot"], token=first["token"]) == 2
    assert len(queued) == 1  # the late event's wake found the place held: the drain ran it
    assert 0 < held_for[0] <= 0.3  # held on the short lease, renewed, not for the whole run
    assert _held() == []
