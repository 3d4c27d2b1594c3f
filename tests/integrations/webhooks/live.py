"""A real gunicorn serving the project on loopback, on a scratch SQLite file, for the tests that
need a real server (chunked bodies, slow clients). Every wait here is bounded."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings as django_settings

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SANDBOX_URL = "/webhooks/sandbox-payments/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scratch_env(directory: Path) -> dict[str, str]:
    """The local profile on a fresh SQLite file, signing with the test settings' sandbox secret
    (so ``support.signed`` signs deliveries the server accepts)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "0",
        "DATABASE_URL": f"sqlite:///{directory / 'live.sqlite3'}",
        "REDIS_URL": "",
        "SANDBOX_WEBHOOK_SECRET": django_settings.SANDBOX_WEBHOOK_SECRET,
        "SANDBOX_SEND_WEBHOOKS": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    return env


@contextmanager
def gunicorn(
    env: dict[str, str], args: Sequence[str], *, app: str = "config.wsgi:application"
) -> Iterator[int]:
    """Start ``gunicorn <app> <args>`` on a free loopback port (the project's gunicorn.conf.py is
    read, as in production; ``args`` override it) and yield the port once /health/ answers."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            *args,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health/")
                if conn.getresponse().status in (200, 503):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start within 60 s")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def chunked_request(path: str, headers: dict[str, str], chunks: Sequence[bytes]) -> bytes:
    """A raw HTTP/1.1 POST whose body is sent in ``chunks`` with no Content-Length."""
    head = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Transfer-Encoding: chunked",
        "Content-Type: application/json",
        "Connection: close",
    ]
    head += [f"{name}: {value}" for name, value in headers.items()]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + framed + b"0\r\n\r\n"


def send_raw(port: int, raw: bytes, *, timeout: float = 20.0) -> tuple[int, bytes]:
    """Send ``raw`` on a fresh connection; return the status code and the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    status_line = answer.split(b"\r\n", 1)[0].split()
    return (int(status_line[1]) if len(status_line) > 1 else 0), answer
