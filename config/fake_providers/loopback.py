"""One way to run a fake provider's HTTP server on 127.0.0.1 for the length of a block."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests


@contextmanager
def serve_on_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port; yields ``http://127.0.0.1:<port>``. The server
    stops, without waiting for slow handlers, when the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def loopback_session() -> requests.Session:
    """A session that talks to a loopback fake directly (no proxy from the environment)."""
    session = requests.Session()
    session.trust_env = False
    return session


@dataclass(frozen=True)
class Seen:
    """One request a fake provider received (headers with lower-case names)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes


Responder = Callable[[Seen], tuple[int, Any, float]]
"""Answers a request: (HTTP status, JSON-serialisable body, seconds to wait before sending it)."""


def json_api_handler(respond: Responder) -> type[BaseHTTPRequestHandler]:
    """A request handler for a fake JSON API: each request becomes a ``Seen``, ``respond`` says
    what to answer and how late (a delay past the client's read timeout is a timeout)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            seen = Seen(
                self.command,
                split.path,
                parse_qs(split.query),
                {k.lower(): v for k, v in self.headers.items()},
                raw,
            )
            status, answer, delay = respond(seen)
            if delay:
                time.sleep(delay)
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (read timeout)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
