"""A correctly signed delivery sent with ``Transfer-Encoding: chunked`` (no Content-Length) is
accepted under WSGI (real gunicorn) and ASGI (Django's ASGIHandler in process, and gunicorn's own
ASGI worker), and the 1 MiB cap holds for chunked bodies too (413)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler

from integrations.models import WebhookEvent, WebhookRejection
from tests.integrations.webhooks.live import (
    SANDBOX_URL,
    chunked_request,
    gunicorn,
    scratch_env,
    send_raw,
)
from tests.integrations.webhooks.support import UNKNOWN_SECRET, URL, signed

ONE_MIB = 1024 * 1024


def _pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _stored(db_file: Path, event_id: str) -> list[tuple[str, str]]:
    """The delivery as stored: the receiver on the server's SQLite file stores an arrival (no
    task cluster runs here to move it into the inbox); the inbox is read too, so that a delivery
    stored in either place counts, and one stored in both counts twice."""
    with sqlite3.connect(db_file) as conn:
        return conn.execute(
            "SELECT event_id, event_type FROM integrations_webhookarrival WHERE event_id = ? "
            "UNION ALL "
            "SELECT event_id, event_type FROM integrations_webhookevent WHERE event_id = ?",
            (event_id, event_id),
        ).fetchall()


@pytest.fixture(scope="module")
def live_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return scratch_env(tmp_path_factory.mktemp("chunked"))


def _db_file(env: dict[str, str]) -> Path:
    return Path(env["DATABASE_URL"].removeprefix("sqlite:///"))


# --- WSGI: a real gunicorn ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_chunked_signed_delivery_is_stored_under_gunicorn(live_env, worker_class):
    body, headers = signed("test.chunked", {"id": f"obj_{worker_class}"})
    with gunicorn(live_env, ["--worker-class", worker_class, "--workers", "1"]) as port:
        status, answer = send_raw(port, chunked_request(SANDBOX_URL, headers, _pieces(body, 7)))
        # A second one whose signature does not match: refused, not stored.
        forged_body, forged = signed("test.chunked", {"id": "forged"}, secret=UNKNOWN_SECRET)
        forged_status, _ = send_raw(port, chunked_request(SANDBOX_URL, forged, [forged_body]))
    assert status == 200, answer
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"] == "stored"
    assert _stored(_db_file(live_env), headers["webhook-id"]) == [
        (headers["webhook-id"], "test.chunked")
    ]
    assert forged_status == 401
    assert _stored(_db_file(live_env), forged["webhook-id"]) == []


@pytest.mark.slow
@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_chunked_body_over_one_mib_is_413_under_gunicorn(live_env, worker_class):
    body, headers = signed("test.chunked", {"id": "big", "pad": "x" * ONE_MIB})
    with gunicorn(live_env, ["--worker-class", worker_class, "--workers", "1"]) as port:
        status, _ = send_raw(port, chunked_request(SANDBOX_URL, headers, _pieces(body, 65536)))
    assert status == 413
    assert _stored(_db_file(live_env), headers["webhook-id"]) == []


@pytest.mark.slow
def test_chunked_body_of_exactly_one_mib_is_accepted_under_gunicorn(live_env):
    body, headers = signed("test.chunked", {"id": "edge", "pad": ""})
    body, headers = signed("test.chunked", {"id": "edge", "pad": "x" * (ONE_MIB - len(body))})
    assert len(body) == ONE_MIB
    with gunicorn(live_env, ["--worker-class", "gthread", "--workers", "1"]) as port:
        status, answer = send_raw(port, chunked_request(SANDBOX_URL, headers, _pieces(body, 4096)))
    assert status == 200, answer
    assert len(_stored(_db_file(live_env), headers["webhook-id"])) == 1


@pytest.mark.slow
def test_bad_chunk_framing_is_400_not_500_under_gunicorn(live_env):
    body, headers = signed("test.chunked", {"id": "framing"})
    raw = chunked_request(SANDBOX_URL, headers, [body]).replace(b"%x\r\n" % len(body), b"zz\r\n")
    with gunicorn(live_env, ["--worker-class", "gthread", "--workers", "1"]) as port:
        status, _ = send_raw(port, raw)
    assert status == 400
    assert _stored(_db_file(live_env), headers["webhook-id"]) == []


# --- ASGI: the project's ASGI application under gunicorn's ASGI worker ----------------------


@pytest.mark.slow
def test_chunked_signed_delivery_is_stored_under_an_asgi_server(live_env):
    body, headers = signed("test.chunked", {"id": "obj_asgi"})
    big_body, big_headers = signed("test.chunked", {"id": "big_asgi", "pad": "x" * ONE_MIB})
    with gunicorn(
        live_env, ["--worker-class", "asgi", "--workers", "1"], app="config.asgi:application"
    ) as port:
        status, answer = send_raw(port, chunked_request(SANDBOX_URL, headers, _pieces(body, 5)))
        big_status, _ = send_raw(
            port, chunked_request(SANDBOX_URL, big_headers, _pieces(big_body, 65536))
        )
    assert status == 200, answer
    assert len(_stored(_db_file(live_env), headers["webhook-id"])) == 1
    assert big_status == 413
    assert _stored(_db_file(live_env), big_headers["webhook-id"]) == []


# --- ASGI: Django's own ASGIHandler, the body in several http.request messages --------------


def _asgi_post(path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
    }
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        # The client stays connected: Django listens for a disconnect while the view runs and
        # cancels this wait once the response is sent.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(dict(message))

    async_to_sync(ASGIHandler())(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


@pytest.mark.django_db(transaction=True)
def test_chunked_signed_delivery_is_stored_by_the_asgi_handler(handlers):
    body, headers = signed("test.unhandled", {"id": "obj_1"})
    status, answer = _asgi_post(URL, headers, _pieces(body, 9))
    assert status == 200, answer
    assert WebhookEvent.objects.get().event_id == headers["webhook-id"]


@pytest.mark.django_db(transaction=True)
def test_chunked_body_over_the_cap_is_413_under_the_asgi_handler(handlers, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    body, headers = signed("test.unhandled", {"id": "obj_2", "pad": "x" * 2000})
    status, _ = _asgi_post(URL, headers, _pieces(body, 300))
    assert status == 413
    assert not WebhookEvent.objects.exists()
    assert not WebhookRejection.objects.exists()


# --- WSGI without a terminated input --------------------------------------------------------


@pytest.mark.django_db
def test_chunked_body_the_server_cannot_frame_is_411_and_nothing_is_recorded(handlers, client):
    # Django's test client (like wsgiref) gives no wsgi.input_terminated: a chunked body would
    # read as empty and look forged; it is refused as such instead.
    body, headers = signed("test.unhandled", {"id": "obj_3"})
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers=headers,
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )
    assert response.status_code == 411
    assert not WebhookEvent.objects.exists()
    assert not WebhookRejection.objects.exists()
