"""Storing events wakes drain tasks, coalesced per process; a drain runs everything due."""

from __future__ import annotations

import time

from integrations.models import WebhookEvent
from integrations.webhooks import inbox
from integrations.webhooks.tasks import drain
from tests.integrations.webhooks.support import signed


def test_stores_within_the_window_wake_one_drain(db, handlers, deliver, broker_idle, settings):
    settings.WEBHOOK_WAKE_WINDOW_SECONDS = 30
    inbox._last_wake = -1e9
    for i in range(5):
        assert deliver(*signed("customer.linked", {"id": f"cus_{i}"})).status_code == 200
    assert broker_idle == [("integrations.webhooks.tasks.drain",)]
    assert WebhookEvent.objects.filter(status="received").count() == 5


def test_a_drain_runs_every_due_event_then_lingers_for_late_ones(
    handlers, deliver, broker_idle, settings, customer
):
    settings.WEBHOOK_DRAIN_LINGER_SECONDS = 0.3
    for i in range(3):
        deliver(*signed("customer.linked", {"id": f"cus_d{i}", "customer_pk": customer.pk}))
    started = time.monotonic()
    assert drain() == 3
    assert 0.3 <= time.monotonic() - started < 5
    assert not WebhookEvent.objects.exclude(status="processed").exists()
    assert len(handlers.calls) == 3


def test_two_batch_claims_in_the_same_microsecond_never_share_rows(
    db, handlers, deliver, broker_idle, monkeypatch
):
    from datetime import timedelta

    from integrations.webhooks import processing

    ids = [deliver(*signed("customer.linked", {"id": f"cus_c{i}"})).json()["id"] for i in range(3)]
    frozen = processing.timezone.now() + timedelta(minutes=1)
    monkeypatch.setattr(processing.timezone, "now", lambda: frozen)
    first = processing._claim_batch(ids)
    second = processing._claim_batch(ids)
    assert [e.pk for e in first] == sorted(ids)
    assert second == []
