"""A local receiver of outbound webhooks, as the business's own systems would run one: it
verifies the Standard Webhooks signature with the official ``standardwebhooks`` library (401
when no secret it knows verifies, 400 for a body that is not JSON) and counts what it took by
``webhook-id`` (a redelivery of an id already taken is counted as a duplicate and answered 200,
as the spec asks receivers to do). ``answers`` queues statuses to give instead (``302`` redirects
to ``/moved``, which records a hit if a sender followed it)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    url: str = ""
    taken: dict[str, dict[str, Any]] = field(default_factory=dict)
    """First delivery of each webhook-id: headers and the parsed body."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    redirected_hits: int = 0
    answers: list[int] = field(default_factory=list)
    keep_requests: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *statuses: int) -> None:
        with self.lock:
            self.answers.extend(statuses)

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, str, dict]:
        with self.lock:
            if self.keep_requests:
                self.requests.append({"path": path, "headers": headers, "body": raw})
            if path == "/moved":
                self.redirected_hits += 1
                return 200, "followed", {}
            forced = self.answers.pop(0) if self.answers else None
        if forced is not None and 300 <= forced < 400:
            return forced, "moved", {"Location": "/moved"}
        if forced is not None:
            return forced, f"forced {forced}", {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, "not json", {}
        if not any(self._verifies(secret, headers, raw) for secret in self.secrets):
            return 401, "bad signature", {}
        msg_id = headers["webhook-id"]
        with self.lock:
            if msg_id in self.taken:
                self.duplicates += 1
            else:
                self.taken[msg_id] = {"headers": headers, "body": body}
        return 200, "ok", {}

    @staticmethod
    def _verifies(secret: str, headers: dict[str, str], raw: bytes) -> bool:
        try:
            Webhook(secret).verify(raw, headers)
        except WebhookVerificationError:
            return False
        return True


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver behind a proxy

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, text, extra = receiver.handle(self.path, headers, raw)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook_receiver(*secrets: str) -> Iterator[Receiver]:
    """Serve a receiver on loopback that verifies with ``secrets`` (add more later to
    ``receiver.secrets``); ``receiver.url`` is its base URL."""
    receiver = Receiver(secrets=list(secrets))
    server = _Server(("127.0.0.1", 0), _handler_for(receiver))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default 5 drops concurrent senders' connections

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-request (the benchmark's kill -9) resets its connection
