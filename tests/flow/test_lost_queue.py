"""Losing the task queue loses no work: the rows are the record, the sweepers re-enqueue them.

A Redis restart (no persistence) or a killed cluster drops every queued task: the drains woken by
stored webhooks, the deliveries to subscribers, the sandbox's webhook sends. Here every task the
order's flow enqueues vanishes, exactly as with the queue, and nothing happens; then the broker is
back and only the sweepers run (no wake, no retry of ours): the order still reaches delivered.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from accounts.access.api_keys import api_key_create
from integrations import sandbox
from integrations.deliveries import tasks as delivery_tasks
from integrations.models import Delivery, SandboxWebhook, WebhookEvent
from integrations.webhooks import tasks as webhook_tasks
from orders.models import Order, OrderStatus
from tests.flow.test_whole_flow import ORDER, assert_final_state


class LostQueue:
    """Stands in for ``async_task`` while the queue is gone: accepts and forgets every task."""

    def __init__(self) -> None:
        self.lost: list[str] = []

    def __call__(self, func: str, *args: Any, **kwargs: Any) -> str:
        self.lost.append(func)
        return "lost"


def _sweep_until_delivered(order: Order, *, rounds: int = 60) -> int:
    """Run the three sweepers, as the sweeper cluster does every minute, until the order settles."""
    for sweep_round in range(1, rounds + 1):
        delivery_tasks.sweep()
        sandbox.sweep()
        webhook_tasks.sweep()
        order.refresh_from_db()
        settled = (
            order.status == OrderStatus.DELIVERED
            and not WebhookEvent.objects.exclude(status__in=["processed", "ignored"]).exists()
            and not Delivery.objects.exclude(status="succeeded").exists()
            and not SandboxWebhook.objects.filter(status="pending").exists()
        )
        if settled:
            return sweep_round
        time.sleep(0.05)
    raise AssertionError(f"not settled after {rounds} sweeps: order {order.status}")


@pytest.mark.django_db(transaction=True)
def test_every_task_lost_with_the_queue_is_recovered_by_the_sweepers(
    live_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SANDBOX_WEBHOOK_TARGET = live_server.url
    settings.SANDBOX_SEND_WEBHOOKS = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    # The sweeper re-sends a pending delivery once it has waited this long (a minute in
    # production, so it never races the task it expects to be queued).
    settings.DELIVERY_SWEEP_PENDING_AFTER_SECONDS = 0
    queue = LostQueue()
    monkeypatch.setattr("django_q.tasks.async_task", queue)
    monkeypatch.setattr("integrations.deliveries.dispatch.async_task", queue)
    monkeypatch.setattr("integrations.sandbox.async_task", queue)
    _, raw_key = api_key_create(name="storefront", scopes=["orders:write"])

    response = requests.post(
        f"{live_server.url}/api/v1/orders/",
        json=ORDER,
        headers={"Authorization": f"Api-Key {raw_key}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    order = Order.objects.get(number=response.json()["number"])

    # Nothing runs while the queue is gone: the order waits in its rows.
    delivery_tasks.sweep()
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    assert Delivery.objects.filter(subscriber="payments.start_payment", status="pending").exists()
    assert set(queue.lost) == {"integrations.deliveries.tasks.run_delivery"}

    # The broker is back for the deliveries the sweeper hands back, but every wake of a webhook
    # drain and of the sandbox's sender is still lost: only their sweepers move that work.
    monkeypatch.undo()
    settings.SANDBOX_WEBHOOK_TARGET = live_server.url
    monkeypatch.setattr("django_q.tasks.async_task", queue)
    monkeypatch.setattr("integrations.sandbox.async_task", queue)
    _sweep_until_delivered(order)

    assert_final_state(order)
    assert {"integrations.sandbox.send", "integrations.webhooks.tasks.drain"} <= set(queue.lost)
