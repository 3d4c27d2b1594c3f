"""A fake Segment HTTP Tracking API on loopback: ``POST /v1/batch``, as segment-analytics-python
sends it (JSON ``{"batch": [...], "sentAt", "writeKey"}``, gzip when the client asks for it,
``Authorization: Basic base64(<write key>:)``).

Answers as Segment documents: 200 ``{"success": true}``; 401 without Basic auth whose username
is the source's write key; 400 for a body that is not JSON or not a ``batch`` list, a body over
500 KB or a message over 32 KB (the batch is then refused whole). Segment answers 200 to a batch
holding a message it cannot use (no ``type``, a ``track`` without ``event``, neither ``userId``
nor ``anonymousId``) and drops that message: so does the fake (``dropped``). ``fail(500, ...)``
answers the next requests with those statuses, recording nothing. Segment keeps one message per
``messageId``: ``delivered`` is that view, ``messages`` everything that was taken.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import Seen, json_api_handler, serve_on_loopback

WRITE_KEY = "sgmt-test-write-key-0123456789abcdef"
MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_BYTES = 32 * 1024


@dataclass
class FakeSegment:
    write_key: str = WRITE_KEY
    url: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, *statuses: int) -> None:
        self.faults.extend(statuses)

    @property
    def delivered(self) -> dict[str, dict[str, Any]]:
        """One message per messageId, the first taken (Segment's deduplication)."""
        found: dict[str, dict[str, Any]] = {}
        for message in self.messages:
            found.setdefault(message["messageId"], message)
        return found

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        if path != "/v1/batch":
            return 404, {"error": "not found"}
        if self.faults:
            return self.faults.pop(0), {"error": "injected failure"}
        if not self._authorised(headers.get("authorization", "")):
            return 401, {"error": "unauthorized", "message": "invalid write key"}
        if headers.get("content-encoding") == "gzip":
            try:
                raw = gzip.decompress(raw)
            except OSError:
                return 400, {"error": "invalid gzip"}
        if len(raw) > MAX_BATCH_BYTES:
            return 400, {"error": "batch exceeds 500KB"}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"error": "invalid JSON"}
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return 400, {"error": "batch must be a list"}
        for message in body["batch"]:
            if len(json.dumps(message).encode()) > MAX_MESSAGE_BYTES:
                return 400, {"error": "message exceeds 32KB"}
        for message in body["batch"]:
            usable = (
                isinstance(message, dict)
                and message.get("type") in {"track", "identify", "page", "screen", "group", "alias"}
                and (message.get("userId") or message.get("anonymousId"))
                and (message.get("type") != "track" or message.get("event"))
                and message.get("messageId")
            )
            (self.messages if usable else self.dropped).append(message)
        return 200, {"success": True}

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            username, _, _ = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        return username == self.write_key


def _handler_for(fake: FakeSegment) -> type[BaseHTTPRequestHandler]:
    def respond(seen: Seen) -> tuple[int, Any, float]:
        if seen.method != "POST":
            return 405, {"error": "Method not allowed."}, 0.0
        with fake.lock:
            fake.requests.append({"path": seen.path, "headers": seen.headers, "body": seen.raw})
            status, answer = fake.answer(seen.path, seen.headers, seen.raw)
        return status, answer, 0.0

    return json_api_handler(respond)


@contextmanager
def serve_fake_segment(write_key: str = WRITE_KEY) -> Iterator[FakeSegment]:
    fake = FakeSegment(write_key=write_key)
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = base
        yield fake
