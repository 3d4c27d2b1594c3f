"""Arrivals: the embedded profile's receiver (a SQLite file, autocommit, as under gunicorn) stores
a delivery under its dedupe key alone and the drain moves it into the inbox (issue 16 item 8).

What must hold: the 200 means stored (the arrival is committed before the answer); a delivery is
answered as a duplicate before and after its move; the inbox gets each arrival once, in arrival
order, with its fields; a move is one transaction (a failure leaves everything as it was); an
arrival whose key reached the inbox by another path adds nothing; moved arrivals keep their key
and lose their payload; waiting arrivals count in the backlog figures; moved ones go with the
inbox's retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections, transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from integrations.metrics import ops_figures
from integrations.models import WebhookArrival, WebhookArrivalMark, WebhookEvent
from integrations.webhooks.inbox import (
    webhook_arrivals_move,
    webhook_arrivals_waiting,
    webhook_event_store,
)
from integrations.webhooks.processing import process_due_webhooks
from integrations.webhooks.registry import get_webhook_endpoint
from integrations.webhooks.retention import webhooks_prune
from integrations.webhooks.views import webhook_receive
from tests.factories import make_customer
from tests.integrations.webhooks.support import PROVIDER, URL, signed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def sqlite_file() -> None:
    connection = connections["default"]
    if connection.vendor != "sqlite" or connection.is_in_memory_db():  # type: ignore[attr-defined]
        pytest.skip("arrivals are the receiver's on a SQLite file; elsewhere it writes the inbox")


def _deliver(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    request = RequestFactory().post(
        URL, data=body, content_type="application/json", headers=headers
    )
    response = webhook_receive(request, provider=PROVIDER)
    response.close()
    assert response.status_code == 200, response.content
    return dict(json.loads(response.content))


def test_the_receiver_stores_an_arrival_and_the_drain_moves_it_into_the_inbox(
    handlers, broker_idle
):
    customer = make_customer()
    body, headers = signed("customer.linked", {"id": "cus_arr", "customer_pk": customer.pk})

    answer = _deliver(body, headers)

    arrival = WebhookArrival.objects.get()
    assert answer == {"status": "stored", "receipt": arrival.pk}
    assert broker_idle  # the drain was woken
    assert not WebhookEvent.objects.exists()
    assert webhook_arrivals_waiting()
    assert (arrival.provider, arrival.event_id, arrival.event_type, arrival.object_id) == (
        PROVIDER,
        headers["webhook-id"],
        "customer.linked",
        "cus_arr",
    )
    assert arrival.body == body.decode()
    assert "webhook-signature" not in arrival.headers  # scrubbed, as for the inbox

    assert process_due_webhooks() == 1

    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type, event.object_id) == (
        PROVIDER,
        headers["webhook-id"],
        "customer.linked",
        "cus_arr",
    )
    assert event.body == body.decode()
    assert event.headers == arrival.headers
    assert (event.received_at, event.occurred_at) == (arrival.received_at, arrival.occurred_at)
    assert event.status == WebhookEvent.Status.PROCESSED
    assert handlers.calls == [headers["webhook-id"]]
    arrival.refresh_from_db()
    assert (arrival.body, arrival.headers) == ("", {})  # the key stays, the payload goes
    assert WebhookArrivalMark.objects.get().moved_through == arrival.pk
    assert not webhook_arrivals_waiting()


def test_a_delivery_is_a_duplicate_before_and_after_its_move(handlers, broker_idle):
    body, headers = signed("customer.linked", {"id": "cus_dup"})
    first = _deliver(body, headers)

    assert _deliver(body, headers) == {"status": "duplicate", "receipt": first["receipt"]}
    process_due_webhooks()
    event = WebhookEvent.objects.get()
    assert _deliver(body, headers) == {"status": "duplicate", "id": event.pk}
    process_due_webhooks()

    assert WebhookEvent.objects.count() == 1
    assert WebhookArrival.objects.count() == 1
    assert handlers.calls == [headers["webhook-id"]]


def test_moves_take_batches_in_arrival_order(handlers, broker_idle):
    keys = []
    for n in range(7):
        body, headers = signed("customer.linked", {"id": f"cus_order_{n}"})
        _deliver(body, headers)
        keys.append(headers["webhook-id"])

    assert [webhook_arrivals_move(limit=3) for _ in range(4)] == [3, 3, 1, 0]

    assert list(WebhookEvent.objects.order_by("pk").values_list("event_id", flat=True)) == keys
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"received"}
    last = WebhookArrival.objects.order_by("pk").last()
    assert last is not None and WebhookArrivalMark.objects.get().moved_through == last.pk


def test_an_arrival_whose_key_reached_the_inbox_otherwise_adds_nothing(handlers, broker_idle):
    body, headers = signed("customer.linked", {"id": "cus_both"})
    _deliver(body, headers)  # an arrival
    endpoint = get_webhook_endpoint(PROVIDER)
    assert endpoint is not None
    with transaction.atomic():  # inside a transaction the store writes the inbox itself
        stored = webhook_event_store(
            provider=PROVIDER,
            parsed=endpoint.parse(headers=headers, body=body),
            headers={},
            body=body.decode(),
        )
    assert stored.created and stored.event_id is not None

    assert webhook_arrivals_move() == 1

    assert list(WebhookEvent.objects.values_list("pk", flat=True)) == [stored.event_id]
    assert not webhook_arrivals_waiting()


def test_a_move_that_fails_midway_leaves_everything_as_it_was(handlers, broker_idle, monkeypatch):
    for n in range(3):
        body, headers = signed("customer.linked", {"id": f"cus_fail_{n}"})
        _deliver(body, headers)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(WebhookArrivalMark, "save", refuse)  # after the copy and the emptying
    with pytest.raises(RuntimeError):
        webhook_arrivals_move()

    assert not WebhookEvent.objects.exists()
    assert all(a.body for a in WebhookArrival.objects.all())
    assert not WebhookArrivalMark.objects.exclude(moved_through=0).exists()
    monkeypatch.undo()
    assert webhook_arrivals_move() == 3
    assert WebhookEvent.objects.count() == 3


def test_waiting_arrivals_count_in_the_backlog_and_its_lag(handlers, broker_idle):
    for n in range(2):
        body, headers = signed("customer.linked", {"id": f"cus_lag_{n}"})
        _deliver(body, headers)
    WebhookArrival.objects.update(received_at=timezone.now() - timedelta(seconds=90))

    figures = ops_figures()

    assert figures.inbox_backlog[(PROVIDER, "arrived")] == 2
    assert figures.inbox_lag_seconds[PROVIDER] >= 90
    webhook_arrivals_move()
    assert (PROVIDER, "arrived") not in ops_figures().inbox_backlog


def test_moved_arrivals_go_with_the_inbox_retention_and_waiting_ones_never(
    handlers, broker_idle, settings
):
    old = timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS + 1)
    for n in range(3):
        body, headers = signed("customer.linked", {"id": f"cus_old_{n}"})
        _deliver(body, headers)
    *_moved, third = WebhookArrival.objects.order_by("pk")
    webhook_arrivals_move(limit=2)  # the third waits
    WebhookArrival.objects.update(received_at=old)

    result = webhooks_prune()

    assert result.arrivals == 2
    assert list(WebhookArrival.objects.values_list("pk", flat=True)) == [third.pk]
    assert webhook_arrivals_waiting()


def test_the_inbox_list_says_how_many_deliveries_wait_to_be_moved_in(
    handlers, broker_idle, admin_client
):
    url = reverse("admin:integrations_webhookevent_changelist")
    for n in range(2):
        body, headers = signed("customer.linked", {"id": f"cus_wait_{n}"})
        _deliver(body, headers)

    page = admin_client.get(url).content.decode()

    assert "2 received deliveries waiting to be moved into the inbox" in page
    assert "cus_wait_" not in page
    webhook_arrivals_move()
    page = admin_client.get(url).content.decode()
    assert "waiting to be moved" not in page
    assert all(f"cus_wait_{n}" in page for n in range(2))  # listed now


def test_with_arrivals_off_the_receiver_writes_the_inbox_row(handlers, broker_idle, settings):
    settings.WEBHOOK_ARRIVALS = False
    body, headers = signed("customer.linked", {"id": "cus_off"})

    answer = _deliver(body, headers)

    event = WebhookEvent.objects.get()
    assert answer == {"status": "stored", "id": event.pk}
    assert (event.event_id, event.status) == (headers["webhook-id"], "received")
    assert not WebhookArrival.objects.exists()
    assert _deliver(body, headers) == {"status": "duplicate", "id": event.pk}
