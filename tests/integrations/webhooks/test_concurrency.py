"""Concurrent deliveries and concurrent workers, each on its own database connection.

pytest-django's ``live_server`` hands the in-memory SQLite test database to the server as *one*
connection shared by every request thread; Django warns that two threads must not use it at once,
and concurrent transactions on it interleave (a request can see another's uncommitted row). So on
in-memory SQLite this module copies the test database to a file (the embedded profile's real
setup: WAL, ``BEGIN IMMEDIATE``, busy timeout) and gives every request thread and worker thread
its own connection to it. On PostgreSQL every thread simply opens its own connection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import pytest
import requests
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection, connections
from django.test import Client
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler, _StaticFilesHandler

from accounts.models import CustomerIdentifier
from integrations.models import DomainEvent, WebhookArrival, WebhookEvent
from integrations.webhooks.inbox import webhook_arrivals_move
from integrations.webhooks.processing import process_due_webhooks, webhook_event_process
from tests.factories import make_customer
from tests.integrations.webhooks.support import URL, signed

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENCY = 10


class _OwnConnectionServer(ThreadedWSGIServer):
    def __init__(self, *args: Any, open_connection: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connection = open_connection

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.open_connection()  # closed by close_request(), like a real server's connection
        super().process_request_thread(request, client_address)


class _ServerThread(LiveServerThread):
    def __init__(self, open_connection: Callable[[], None]) -> None:
        super().__init__("127.0.0.1", _StaticFilesHandler)
        self.open_connection = open_connection

    def _create_server(self, connections_override: Any = None) -> ThreadedWSGIServer:
        return _OwnConnectionServer(
            (self.host, self.port),
            QuietWSGIRequestHandler,
            allow_reuse_address=False,
            open_connection=self.open_connection,
        )


@pytest.fixture
def own_connections(transactional_db, tmp_path) -> Iterator[Callable[[], None]]:
    """Yields ``open_connection()``: call it first thing in a new thread."""
    if connection.vendor == "sqlite" and cast(Any, connection).is_in_memory_db():
        file_settings = {**connection.settings_dict, "NAME": str(tmp_path / "concurrency.sqlite3")}
        connection.ensure_connection()
        target = sqlite3.connect(file_settings["NAME"])
        connection.connection.backup(target)
        target.close()
        wrapper_class = type(connection)
        in_memory = connections["default"]

        def open_connection() -> None:
            connections["default"] = wrapper_class(dict(file_settings), "default")

        open_connection()  # the test's own thread too, so it sees what the others commit
        yield open_connection
        connections["default"].close()
        connections["default"] = in_memory
    else:
        yield lambda: None


@pytest.fixture
def server_url(own_connections) -> Iterator[str]:
    thread = _ServerThread(own_connections)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


def _in_parallel(func: Callable[[int], Any], n: int = CONCURRENCY) -> list[Any]:
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        return func(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_ten_concurrent_deliveries_of_one_event_store_one_row_and_apply_it_once(
    handlers, server_url
):
    customer = make_customer()
    body, headers = signed(
        "customer.linked", {"id": "cus_conc", "customer_pk": customer.pk}, msg_id="msg_conc"
    )
    headers["Content-Type"] = "application/json"

    responses = _in_parallel(
        lambda _: requests.post(server_url + URL, data=body, headers=headers, timeout=60)
    )

    assert [r.status_code for r in responses] == [200] * CONCURRENCY, [r.text for r in responses]
    answers = [r.json() for r in responses]
    assert sorted(a["status"] for a in answers) == ["duplicate"] * (CONCURRENCY - 1) + ["stored"]
    # Each answer names the one stored delivery: its arrival (the receiver on a SQLite file)
    # until the drain has moved it, the inbox row after; both exist once.
    assert all(("id" in a) != ("receipt" in a) for a in answers), answers
    receipts = {a["receipt"] for a in answers if "receipt" in a}
    assert receipts <= set(WebhookArrival.objects.values_list("pk", flat=True))
    assert len(receipts) <= 1 and WebhookArrival.objects.count() == len(receipts)
    event = WebhookEvent.objects.get()
    assert {a["id"] for a in answers if "id" in a} <= {event.pk}
    # The drain is woken once the stored delivery's 200 has been sent (tasks run inline here).
    deadline = time.monotonic() + 20
    while event.status != WebhookEvent.Status.PROCESSED and time.monotonic() < deadline:
        time.sleep(0.05)
        event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 1
    assert handlers.calls == ["msg_conc"]
    assert CustomerIdentifier.objects.filter(external_id="cus_conc").count() == 1
    linked = DomainEvent.objects.filter(type="customer.identifier_linked", customer=customer)
    assert linked.count() == 1


def test_ten_workers_processing_one_event_at_once_run_its_handler_once(
    handlers, own_connections, broker_idle
):
    customer = make_customer()
    body, headers = signed("customer.linked", {"id": "cus_w", "customer_pk": customer.pk})
    assert Client().post(URL, body, "application/json", headers=headers).status_code == 200
    webhook_arrivals_move()  # the receiver on a SQLite file stores an arrival; the drain moves it
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED

    def worker(_: int) -> str:
        own_connections()
        try:
            return webhook_event_process(event_id=event.pk).status
        finally:
            connections.close_all()

    _in_parallel(worker)

    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 1
    assert len(handlers.calls) == 1
    linked = DomainEvent.objects.filter(type="customer.identifier_linked", customer=customer)
    assert linked.count() == 1


def test_sweepers_racing_over_many_due_events_process_each_exactly_once(
    handlers, own_connections, broker_idle
):
    customer = make_customer()
    client = Client()
    for n in range(20):
        body, headers = signed("customer.linked", {"id": f"cus_s{n}", "customer_pk": customer.pk})
        assert client.post(URL, body, "application/json", headers=headers).status_code == 200

    def sweeper(_: int) -> int:
        own_connections()
        try:
            return process_due_webhooks()
        finally:
            connections.close_all()

    ran = _in_parallel(sweeper, n=4)

    assert sum(ran) == 20
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}
    assert len(handlers.calls) == 20
    assert CustomerIdentifier.objects.filter(customer=customer).count() == 20


@pytest.mark.parametrize(("per_hour", "per_source"), [(20, 3), (4, 100)])
def test_concurrent_forged_deliveries_keep_no_more_samples_than_allowed(
    handlers, server_url, settings, per_hour, per_source
):
    from integrations.models import WebhookRejection
    from integrations.webhooks import inbox
    from tests.integrations.webhooks.support import UNKNOWN_SECRET

    settings.WEBHOOK_REJECTION_SAMPLES_PER_HOUR = per_hour
    settings.WEBHOOK_REJECTION_SAMPLES_PER_SOURCE = per_source
    inbox._tally.reset()

    def forge(i: int) -> int:
        body, headers = signed("customer.linked", {"id": f"cus_{i}"}, secret=UNKNOWN_SECRET)
        headers["Content-Type"] = "application/json"
        return requests.post(server_url + URL, data=body, headers=headers, timeout=60).status_code

    assert _in_parallel(forge) == [401] * CONCURRENCY
    assert WebhookRejection.objects.count() == min(per_hour, per_source)
