"""A fake Slack on loopback: an incoming webhook and the Web API's ``chat.postMessage``.

Incoming webhook (``POST /services/<team>/<bot>/<secret>``), as Slack documents its errors:
200 ``ok``; 400 ``invalid_payload`` for a body that is not JSON or has neither ``text`` nor
``blocks`` (or blocks that are not a list of objects with a ``type``); 404 ``no_service`` for a
URL that is not the webhook's; 410 ``channel_is_archived``, 429 with ``Retry-After`` and 500 on
demand (``fail``). The answers are plain text, like Slack's.

``POST /api/chat.postMessage``: always HTTP 200 with ``{"ok": true, "channel", "ts",
"message"}`` or ``{"ok": false, "error"}``: ``not_authed`` without a Bearer token,
``invalid_auth`` with another one, ``channel_not_found`` for a channel the workspace does not
have, ``no_text`` without text or blocks; ``fail("ratelimited")`` answers HTTP 429 with
``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``, ``fail("internal_error")`` 200
with that error, ``fail("500")`` an HTTP 500.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.loopback import serve_on_loopback

WEBHOOK_PATH = "/services/T0SWITCHB/B0ALERTS1/q7Xv2LkP9sR4tY8uW3zA6bC1"
BOT_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"
CHANNELS = {"#ops": "C0OPS0001", "#finance": "C0FIN0001", "#alerts": "C0ALR0001"}


@dataclass
class FakeSlack:
    url: str = ""
    posted: list[dict[str, Any]] = field(default_factory=list)
    """Messages Slack took: the webhook's bodies, and chat.postMessage's with their channel."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    retry_after: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{WEBHOOK_PATH}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api"

    def fail(self, *faults: str) -> None:
        self.faults.extend(faults)

    def webhook(self, path: str, raw: bytes, fault: str) -> tuple[int, str, dict[str, str]]:
        if path != WEBHOOK_PATH:
            return 404, "no_service", {}
        if fault == "429":
            return 429, "rate_limited", {"Retry-After": str(self.retry_after)}
        if fault == "500":
            return 500, "internal_error", {}
        if fault == "410":
            return 410, "channel_is_archived", {}
        body = _json(raw)
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return 400, "invalid_payload", {}
        if not _blocks_ok(body.get("blocks", [])):
            return 400, "invalid_blocks", {}
        self.posted.append(body)
        return 200, "ok", {}

    def post_message(
        self, headers: dict[str, str], raw: bytes, fault: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if fault == "ratelimited":
            retry = {"Retry-After": str(self.retry_after)}
            return 429, {"ok": False, "error": "ratelimited"}, retry
        if fault == "500":
            return 500, {"ok": False, "error": "fatal_error"}, {}
        if fault == "internal_error":
            return 200, {"ok": False, "error": "internal_error"}, {}
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return 200, {"ok": False, "error": "not_authed"}, {}
        if auth.removeprefix("Bearer ") != BOT_TOKEN:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        body = _json(raw)
        if not isinstance(body, dict):
            return 200, {"ok": False, "error": "invalid_json"}, {}
        channel = CHANNELS.get(str(body.get("channel", "")))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if not (body.get("text") or body.get("blocks")):
            return 200, {"ok": False, "error": "no_text"}, {}
        if not _blocks_ok(body.get("blocks", [])):
            return 200, {"ok": False, "error": "invalid_blocks"}, {}
        self.posted.append(body)
        ts = f"{time.time():.6f}"
        return (
            200,
            {"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text")}},
            {},
        )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _blocks_ok(blocks: Any) -> bool:
    return isinstance(blocks, list) and all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in blocks
    )


def _handler_for(fake: FakeSlack) -> type:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            with fake.lock:
                fake.requests.append({"path": self.path, "headers": headers, "body": raw})
                fault = fake.faults.pop(0) if fake.faults else ""
                if self.path == "/api/chat.postMessage":
                    status, answer, extra = fake.post_message(headers, raw, fault)
                    payload, kind = json.dumps(answer).encode(), "application/json; charset=utf-8"
                else:
                    status, text, extra = fake.webhook(self.path, raw, fault)
                    payload, kind = text.encode(), "text/html"
            try:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve_fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    with serve_on_loopback(_handler_for(fake)) as base:
        fake.url = base.rstrip("/")
        yield fake
