"""A provider's rejection ends a delivery at once (dead, with the reason); an unavailable provider
and the 4xx that mean "not now" (408, 409, 429) are retried with backoff."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from integrations.deliveries.relay import deliver_due, delivery_run, is_terminal
from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import Delivery, ProviderCall
from integrations.outbound.client import ProviderClient
from tests.integrations.deliveries.helpers import Recorder, deliveries_of, emit, make_overdue
from tests.support.outbound import fast_outbound


def _single(event) -> Delivery:
    (delivery,) = deliveries_of(event).values()
    return delivery


@pytest.mark.parametrize(
    ("error", "terminal"),
    [
        (ProviderRejected("asaas payment.refund: HTTP 400 Bad Request", status_code=400), True),
        (ProviderRejected("stripe refund: card_error", status_code=402), True),
        (ProviderRejected("x: HTTP 404 Not Found", status_code=404), True),
        (ProviderRejected("x: HTTP 422 Unprocessable", status_code=422), True),
        (ProviderRejected("asaas: only BRL, not USD.", status_code=0), True),
        (ProviderRejected("x: HTTP 408 Request Timeout", status_code=408), False),
        (ProviderRejected("stripe: idempotency key in use", status_code=409), False),
        (ProviderRejected("x: HTTP 429", status_code=429), False),
        (ProviderUnavailable("x: HTTP 503 after 3 attempts", status_code=503), False),
        (CircuitOpen("x: circuit open, not sent"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_which_errors_are_terminal(error, terminal):
    assert is_terminal(error) is terminal


def test_a_rejection_is_dead_at_the_first_attempt_with_the_reason(customer, subscribe):
    rejected = ProviderRejected(
        "asaas payment.refund: HTTP 400 Bad Request", provider="asaas", status_code=400
    )
    recorder = Recorder("refund", fail_times=99, error=rejected)
    subscribe("payments.execute_refund_test", recorder, max_attempts=8)
    event = emit(customer)

    delivery = delivery_run(delivery_id=_single(event).pk)

    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 1
    assert delivery.next_attempt_at is None
    assert delivery.completed_at is not None
    assert delivery.last_error == "ProviderRejected: asaas payment.refund: HTTP 400 Bad Request"
    assert recorder.rows(event) == 0  # an atomic subscriber's writes were rolled back
    make_overdue(delivery)
    assert deliver_due() == 0  # never run again
    assert recorder.calls == {event.pk: 1}


@pytest.mark.parametrize(
    "error",
    [
        ProviderUnavailable("stripe refund: HTTP 503 after 3 attempts", status_code=503),
        ProviderRejected("stripe refund: HTTP 409 Conflict", status_code=409),
        ProviderRejected("x: HTTP 408 Request Timeout", status_code=408),
    ],
)
def test_unavailable_and_not_now_errors_are_retried(customer, subscribe, error):
    recorder = Recorder("refund", fail_times=1, error=error)
    subscribe("payments.execute_refund_test", recorder, max_attempts=8)
    event = emit(customer)

    delivery = delivery_run(delivery_id=_single(event).pk)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is not None
    assert delivery.completed_at is None

    make_overdue(delivery)
    delivery = delivery_run(delivery_id=delivery.pk)
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert recorder.calls == {event.pk: 2}


# Through the real outbound client, against a local server ------------------------------------


class _Provider(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.answers.pop(0)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def provider_server() -> Iterator[tuple[str, type[_Provider]]]:
    handler = type("Handler", (_Provider,), {"answers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _calling(url: str):
    def handle(event) -> None:
        session = requests.Session()
        session.trust_env = False
        ProviderClient("acme", url, session=session, sleep=lambda _: None).request(
            "payment.refund", "POST", "/refunds", json={"value": 10}, idempotency_key="refund:1"
        )

    return handle


def test_an_invalid_code_4xx_from_the_client_kills_the_delivery_at_once(
    customer, subscribe, provider_server, settings
):
    fast_outbound(settings)
    url, handler = provider_server
    handler.answers = [(400, {"errors": [{"code": "invalid_value", "description": "..."}]})]
    subscribe("payments.refund_via_client", _calling(url), atomic=False, max_attempts=8)
    event = emit(customer)

    delivery = delivery_run(delivery_id=_single(event).pk)

    assert delivery.status == Delivery.Status.DEAD
    assert delivery.attempts == 1
    assert "HTTP 400" in delivery.last_error and "ProviderRejected" in delivery.last_error
    assert ProviderCall.objects.filter(provider="acme").count() == 1  # no retry in-process


def test_a_409_from_the_client_is_retried_by_the_relay(
    customer, subscribe, provider_server, settings
):
    fast_outbound(settings)
    url, handler = provider_server
    handler.answers = [(409, {"error": {"type": "idempotency_error"}}), (200, {"id": "re_1"})]
    subscribe("payments.refund_via_client", _calling(url), atomic=False, max_attempts=8)
    event = emit(customer)

    delivery = delivery_run(delivery_id=_single(event).pk)
    assert delivery.status == Delivery.Status.FAILED
    make_overdue(delivery)
    delivery = delivery_run(delivery_id=delivery.pk)

    assert delivery.status == Delivery.Status.SUCCEEDED
    calls = ProviderCall.objects.filter(provider="acme").order_by("pk")
    assert list(calls.values_list("status_code", flat=True)) == [409, 200]
