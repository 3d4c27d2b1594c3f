"""Rows for the ops figures in known numbers (integrations/metrics.py): the /metrics tests and
the ops page's browser test check the same figures against them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.models import OrmQ

from integrations.models import CircuitBreaker, Delivery, DomainEvent, ProviderCall, WebhookEvent


def _events(count: int) -> list[DomainEvent]:
    return DomainEvent.objects.bulk_create(
        DomainEvent(type="order.paid", kind="order") for _ in range(count)
    )


def seed_ops_figures(*, scale: int = 1, providers: int = 2) -> dict[str, Any]:
    """Inbox rows, deliveries, breakers, ledger calls and broker tasks in known numbers."""
    now = timezone.now()
    names = ["stripe", "asaas", *[f"p{i}" for i in range(providers - 2)]]
    inbox = []
    for p_index, provider in enumerate(names):
        for status, count in (("received", 3), ("failed", 2), ("processed", 5), ("dead", 1)):
            for i in range(count * scale):
                inbox.append(
                    WebhookEvent(
                        provider=provider,
                        event_id=f"{provider}-{status}-{i}",
                        status=status,
                        body="{}",
                        # stripe's oldest unprocessed row is 600 s old, asaas's 60 s.
                        received_at=now - timedelta(seconds=(600 if p_index == 0 else 60) - i),
                    )
                )
    WebhookEvent.objects.bulk_create(inbox)

    plan = [("erp.sync", "pending", 4), ("erp.sync", "failed", 2), ("crm.push", "dead", 3)]
    plan += [("crm.push", "succeeded", 1)]
    rows = [(subscriber, status) for subscriber, status, n in plan for _ in range(n * scale)]
    Delivery.objects.bulk_create(
        Delivery(event=event, subscriber=subscriber, status=status)
        for event, (subscriber, status) in zip(_events(len(rows)), rows, strict=True)
    )

    CircuitBreaker.objects.create(provider="stripe", state=CircuitBreaker.State.CLOSED)
    CircuitBreaker.objects.create(provider="zapi", state=CircuitBreaker.State.OPEN, opened_at=now)

    calls = []
    for i in range(4 * scale):
        calls.append(
            ProviderCall(
                provider="stripe",
                operation="create_payment",
                method="POST",
                url="https://api.stripe.test/v1/payment_intents",
                outcome="success",
                duration_ms=80 if i % 2 else 300,
            )
        )
    calls.append(
        ProviderCall(
            provider="stripe",
            operation="create_payment",
            method="POST",
            url="https://api.stripe.test/v1/payment_intents",
            outcome="timeout",
            duration_ms=6000,
        )
    )
    # Outside the window: not counted.
    calls.append(
        ProviderCall(
            provider="stripe",
            operation="create_payment",
            method="POST",
            url="https://api.stripe.test/v1/payment_intents",
            outcome="http_error",
            duration_ms=10,
            created_at=now - timedelta(hours=1),
        )
    )
    ProviderCall.objects.bulk_create(calls)

    if isinstance(get_broker(list_key="switchboard"), ORM):
        OrmQ.objects.bulk_create(
            [
                OrmQ(key="switchboard", payload="x", lock=now - timedelta(seconds=5))
                for _ in range(7)
            ]
            + [OrmQ(key="switchboard-sweepers", payload="x", lock=now - timedelta(seconds=5))]
            # Taken by a worker (locked into the future): not waiting.
            + [OrmQ(key="switchboard", payload="x", lock=now + timedelta(seconds=60))]
        )
    else:
        # The scaled profile's Redis broker: its lists outlive the test's rolled-back database,
        # so each is emptied first (no test process runs a cluster on these two lists).
        for name, waiting in (("switchboard", 7), ("switchboard-sweepers", 1)):
            broker = get_broker(list_key=name)
            broker.purge_queue()
            for _ in range(waiting):
                broker.enqueue("x")
    return {"now": now}
