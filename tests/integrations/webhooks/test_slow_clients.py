"""Slow clients cannot hold every worker: under the project's gunicorn.conf.py (gthread workers, a
read timeout), connections that send headers and part of a body and then stall do not keep valid
deliveries from being answered within a bound, and are themselves cut off after the timeout."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

from tests.integrations.webhooks.live import SANDBOX_URL, gunicorn, scratch_env
from tests.integrations.webhooks.support import signed

WORKERS, THREADS, READ_TIMEOUT = 2, 4, 1.5
# A stalled body holds its thread for the application's read, then gunicorn's drain of the unread
# rest: at most two read timeouts.
HELD = 2 * READ_TIMEOUT


# Bounds are generous for a loaded 2-core CI machine, yet far below what a blocked worker costs.
QUICK = 5.0
# With this read timeout a delivery stuck behind a stalled client would wait at least this long.
PATIENT_READ_TIMEOUT = 30.0


def _serve(tmp_path_factory: pytest.TempPathFactory, read_timeout: float) -> Iterator[int]:
    env = scratch_env(tmp_path_factory.mktemp("slow"))
    env |= {
        "WEB_CONCURRENCY": str(WORKERS),
        "WEB_THREADS": str(THREADS),
        "WEB_READ_TIMEOUT": str(read_timeout),
    }
    with gunicorn(env, []) as port:
        yield port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from _serve(tmp_path_factory, READ_TIMEOUT)


@pytest.fixture(scope="module")
def patient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from _serve(tmp_path_factory, PATIENT_READ_TIMEOUT)


@contextmanager
def stalled(port: int, count: int, *, in_headers: int = 0) -> Iterator[list[socket.socket]]:
    """``count`` connections that each send a request's headers and 100 of its 5,000 body bytes
    (the first ``in_headers`` of them: half their headers) and then stall."""
    _, headers = signed("test.slow", {"id": "slow"})
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (
        f"POST {SANDBOX_URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: 5000\r\n{head}\r\n"
    ).encode() + b"x" * 100
    with ExitStack() as stack:
        sockets = []
        for i in range(count):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            sock.sendall(request[: len(request) // 4] if i < in_headers else request)
            sockets.append(sock)
        time.sleep(0.5)  # accepted and read: each now holds a thread
        yield sockets


def _deliver(port: int, i: int) -> tuple[int, float]:
    body, headers = signed("test.unhandled", {"id": f"ok_{i}"})
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", SANDBOX_URL, body=body, headers=headers)
        status = conn.getresponse().status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, time.monotonic() - started


def _cut_off_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server answers or closes the stalled connection within ``seconds``."""
    sock.settimeout(seconds)
    try:
        sock.recv(65536)
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


@pytest.mark.slow
def test_stalled_uploads_do_not_delay_valid_deliveries(patient_server):
    # Fewer stalled connections than one worker's threads, more than there are workers: with
    # sync workers these alone would hold the whole web server for PATIENT_READ_TIMEOUT.
    with stalled(patient_server, THREADS - 1):
        results = [_deliver(patient_server, i) for i in range(20)]
    assert [status for status, _ in results] == [200] * 20
    assert max(seconds for _, seconds in results) < QUICK < PATIENT_READ_TIMEOUT


@pytest.mark.slow
def test_more_stalled_clients_than_threads_are_cut_off_after_the_read_timeout(server):
    count = WORKERS * THREADS + 1
    # A worker hands connections to its threads in the order it accepted them, and the two workers
    # may take the stalled ones unevenly (all of them, at worst): they are served in rounds.
    rounds = -(-count // THREADS)
    with stalled(server, count, in_headers=count // 2) as sockets:
        started = time.monotonic()
        results = [_deliver(server, i) for i in range(10)]
        assert [status for status, _ in results] == [200] * 10
        # Every thread was held: the first deliveries wait for stalled clients to be cut off.
        assert max(seconds for _, seconds in results) < HELD * rounds + QUICK
        deadline = started + HELD * rounds + QUICK
        assert all(_cut_off_within(sock, max(deadline - time.monotonic(), 0.1)) for sock in sockets)
    after = [_deliver(server, i) for i in range(10, 20)]
    assert [status for status, _ in after] == [200] * 10
    assert max(seconds for _, seconds in after) < QUICK
