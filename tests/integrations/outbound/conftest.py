"""A real HTTP server on 127.0.0.1 playing a provider, and clients pointed at it.

Each path answers from a script of replies, in order, repeating the last one; every request is
recorded (method, path with query, headers, body) before the reply is sent.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from integrations.outbound.client import ProviderClient
from tests.support.outbound import Sleeps, fast_outbound


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeProvider:
    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = ""

    def script(self, path: str, *replies: Reply | int) -> None:
        self.scripts[path] = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            replies = self.scripts.get(path)
            if not replies:
                return Reply(status=404, body=b'{"error": "no script"}')
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if urlsplit(seen.path).path == path]


def _handler_for(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with fake.lock:
                fake.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
            reply = fake.next_reply(urlsplit(self.path).path)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (read timeout) and closed the socket

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    server.block_on_close = False
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def fast_outbound_settings(settings: Any) -> Any:
    return fast_outbound(
        settings,
        CIRCUIT_BREAKER_MIN_CALLS=4,
        CIRCUIT_BREAKER_FAILURE_RATIO=0.5,
        CIRCUIT_BREAKER_WINDOW_SECONDS=60,
        CIRCUIT_BREAKER_COOLDOWN_SECONDS=30,
    )


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(fake_provider: FakeProvider, sleeps: Sleeps) -> Any:
    def make(provider: str = "acme", base_url: str | None = None, **kwargs: Any) -> ProviderClient:
        session = requests.Session()
        session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
        kwargs.setdefault("sleep", sleeps)
        return ProviderClient(provider, base_url or fake_provider.url, session=session, **kwargs)

    return make
