"""A fake PostHog capture endpoint on loopback: ``POST /batch/``, as the posthog SDK sends it
(JSON ``{"batch": [...], "api_key", "sent_at", "historical_migration"}``, gzip when the client
asks for it, the project API key in the body, no Authorization header).

Answers as PostHog's capture does: 200 ``{"status": 1}``; 401 ``invalid_api_key`` for a missing
or wrong project key; 400 ``invalid_payload`` for a body that is not JSON or gzip as announced,
no ``batch`` list, an event without ``event`` or ``distinct_id``, or a ``uuid`` that is not a
UUID; 413 over 20 MB. ``fail(500, ...)`` answers the next requests with those statuses,
recording nothing. PostHog keeps one event per ``uuid``: ``delivered`` is that view.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import Seen, json_api_handler, serve_on_loopback

API_KEY = "phc_testProjectKey0123456789abcdefABCDEF"
MAX_BODY_BYTES = 20 * 1024 * 1024


def _refusal(code: str, detail: str, kind: str = "validation_error") -> dict[str, str]:
    return {"type": kind, "code": code, "detail": detail, "attr": ""}


@dataclass
class FakePostHog:
    api_key: str = API_KEY
    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, *statuses: int) -> None:
        self.faults.extend(statuses)

    @property
    def delivered(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for event in self.events:
            found.setdefault(event["uuid"], event)
        return found

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        if path.split("?")[0] != "/batch/":
            return 404, _refusal("not_found", "Not found.", "invalid_request")
        if self.faults:
            return self.faults.pop(0), _refusal("server_error", "injected failure", "server_error")
        if len(raw) > MAX_BODY_BYTES:
            return 413, _refusal("payload_too_large", "Payload too large.")
        if headers.get("content-encoding") == "gzip":
            try:
                raw = gzip.decompress(raw)
            except OSError:
                return 400, _refusal("invalid_payload", "Malformed request data: bad gzip.")
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _refusal("invalid_payload", "Malformed request data: not JSON.")
        if not isinstance(body, dict):
            return 400, _refusal("invalid_payload", "Malformed request data.")
        if body.get("api_key") != self.api_key:
            return 401, _refusal(
                "invalid_api_key",
                "Project API key invalid. You can find your project API key in PostHog "
                "project settings.",
                "authentication_error",
            )
        batch = body.get("batch")
        if not isinstance(batch, list):
            return 400, _refusal("invalid_payload", "Invalid payload: batch must be a list.")
        for event in batch:
            if not isinstance(event, dict) or not event.get("event"):
                return 400, _refusal(
                    "invalid_payload",
                    "Invalid payload: All events must have the event name field 'event'!",
                )
            if not event.get("distinct_id"):
                return 400, _refusal(
                    "invalid_payload", "Invalid payload: All events must have a distinct_id."
                )
            if "uuid" in event:
                try:
                    uuid.UUID(str(event["uuid"]))
                except ValueError:
                    return 400, _refusal("invalid_payload", "Invalid payload: uuid is not a UUID.")
        self.bodies.append(body)
        self.events.extend(batch)
        return 200, {"status": 1}


def _handler_for(fake: FakePostHog) -> type[BaseHTTPRequestHandler]:
    def respond(seen: Seen) -> tuple[int, Any, float]:
        if seen.method != "POST":
            return 405, {"error": "Method not allowed."}, 0.0
        with fake.lock:
            fake.requests.append({"path": seen.path, "headers": seen.headers, "body": seen.raw})
            status, answer = fake.answer(seen.path, seen.headers, seen.raw)
        return status, answer, 0.0

    return json_api_handler(respond)


@contextmanager
def serve_fake_posthog(api_key: str = API_KEY) -> Iterator[FakePostHog]:
    fake = FakePostHog(api_key=api_key)
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = base
        yield fake
