"""Forged-delivery flood: valid acknowledgement latency quiet and under a flood, and what the
flood leaves in the database.

    python -m bench.flood [--seconds 15] [--rate 200] [--flood-rate 300] [--sources 1]
                          [--header-bytes 4000] [--headers 40] [--flood-max 20000]
                          [--workers 2] [--threads N] [--worker-class sync]

Starts gunicorn on 127.0.0.1 over a scratch SQLite file (the embedded profile), reading the
project's gunicorn.conf.py as ``run_demo`` does (``--worker-class`` and ``--threads`` override
it). Then, each bounded in requests and time:

1. quiet: distinct signed events to ``/webhooks/sandbox-payments/`` at a steady open-loop rate
   (bench.ingest's helpers; latency from each request's scheduled send time);
2. flood: the same valid load again, while other connections send forged deliveries (a wrong
   secret, ``--headers`` junk headers of ``--header-bytes`` each) paced at up to ``--flood-rate``
   per second over 4 keep-alive connections, at most ``--flood-max`` of them,
   from ``--sources`` client addresses (with more than one, the server trusts one proxy hop and
   each forged request carries one of them in X-Forwarded-For).

Prints valid p50/p99/max both ways, the forged answers, and the rejection rows, counters and
database bytes the flood left.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import ROOT, Request, bench_env, free_port, manage, open_loop
from bench.ingest import signed_requests


@dataclass
class FloodResult:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0


def forged_raw(
    *, count: int, headers: int, header_bytes: int, sources: list[str], xff: bool
) -> list[bytes]:
    """Raw HTTP/1.1 requests signed with a secret the server does not know."""
    from standardwebhooks.webhooks import Webhook

    wrong = Webhook("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
    junk = "j" * header_bytes
    built = []
    now = datetime.now(tz=UTC)
    for i in range(count):
        msg_id = f"msg_forged_{uuid.uuid4().hex}"
        body = json.dumps({"type": "payment.succeeded", "data": {"id": f"pay_{i}"}}).encode()
        lines = [
            "POST /webhooks/sandbox-payments/ HTTP/1.1",
            "Host: 127.0.0.1",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"webhook-id: {msg_id}",
            f"webhook-timestamp: {int(now.timestamp())}",
            f"webhook-signature: {wrong.sign(msg_id=msg_id, timestamp=now, data=body.decode())}",
            *(f"x-junk-{n}: {junk}" for n in range(headers)),
        ]
        if xff:
            lines.append(f"X-Forwarded-For: {sources[i % len(sources)]}")
        built.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return built


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bool]:
    """Read one response (headers + Content-Length body) off a keep-alive socket; its status and
    whether the server closes the connection after it."""
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        if name.strip().lower() == b"connection":
            close = value.strip().lower() == b"close"
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        rest += data
    buffer[:] = rest[length:]
    return status, close


def flood(
    port: int, requests: list[bytes], *, rate: float, stop: threading.Event, connections: int = 4
) -> FloodResult:
    """Send ``requests`` paced at ``rate``/s over ``connections`` keep-alive sockets until
    all are sent or ``stop`` is set."""
    result = FloodResult()
    lock = threading.Lock()
    work: list[list[bytes]] = [requests[i::connections] for i in range(connections)]

    def worker(mine: list[bytes], offset: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        buffer = bytearray()
        interval = connections / rate
        start = time.perf_counter() + offset * interval / connections
        for i, raw in enumerate(mine):
            if stop.is_set():
                break
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                sock.sendall(raw)
                status, close = _read_response(sock, buffer)
            except OSError:
                status, close = 0, True
            if close:  # sync workers close after every answer; reconnect
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                buffer = bytearray()
            with lock:
                result.sent += 1
                result.statuses[status] += 1
        sock.close()

    threads = [threading.Thread(target=worker, args=(work[i], i)) for i in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - started
    return result


def database_figures(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file) as conn:
        rows, header_bytes = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(headers)), 0) FROM integrations_webhookrejection"
        ).fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        counted = 0
        if "integrations_webhookrejectioncounter" in tables:
            counted = conn.execute(
                "SELECT COALESCE(SUM(rejected), 0) FROM integrations_webhookrejectioncounter"
            ).fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = conn.execute(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
        ).fetchone()[0]
    return {
        "rejection_rows": rows,
        "rejection_header_bytes": header_bytes,
        "rejections_counted": counted,
        "database_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    parser.add_argument("--rate", type=float, default=200.0, help="valid deliveries per second")
    parser.add_argument("--flood-rate", type=float, default=300.0, help="forged per second")
    parser.add_argument("--flood-max", type=int, default=20_000, help="cap on forged requests")
    parser.add_argument("--sources", type=int, default=1, help="forged client addresses")
    parser.add_argument("--headers", type=int, default=40, help="junk headers per forged request")
    parser.add_argument("--header-bytes", type=int, default=4000)
    parser.add_argument("--worker-class", default="", help="default: gunicorn.conf.py's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="default: gunicorn.conf.py's")
    args = parser.parse_args()

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = bench_env(None)
    env["SANDBOX_WEBHOOK_SECRET"] = secret
    xff = args.sources > 1
    if xff:
        env["TRUSTED_PROXY_COUNT"] = "1"
    manage(env, "migrate", "--no-input")
    manage(env, "createcachetable")
    db_file = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    sources = [f"198.51.{(i >> 8) & 255}.{i & 255}" for i in range(args.sources)]
    count = int(args.rate * args.seconds)
    flood_count = min(args.flood_max, int(args.flood_rate * args.seconds))

    def valid(n: int) -> list[Request]:
        built = signed_requests(secret, n)
        if xff:
            built = [
                Request(r.path, r.body, {**r.headers, "X-Forwarded-For": "192.0.2.1"})
                for r in built
            ]
        return built

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--no-control-socket",
        "--log-level",
        "error",
    ]
    if args.worker_class:
        cmd += ["--worker-class", args.worker_class]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_up(port)
        open_loop(port, valid(300), rate=args.rate)  # warm-up
        before = database_figures(db_file)
        quiet = open_loop(port, valid(count), rate=args.rate)
        after_quiet = database_figures(db_file)
        forged = forged_raw(
            count=flood_count,
            headers=args.headers,
            header_bytes=args.header_bytes,
            sources=sources,
            xff=xff,
        )
        stop = threading.Event()
        flood_result: list[FloodResult] = []
        flooder = threading.Thread(
            target=lambda: flood_result.append(flood(port, forged, rate=args.flood_rate, stop=stop))
        )
        flooder.start()
        loud = open_loop(port, valid(count), rate=args.rate)
        stop.set()
        flooder.join(timeout=args.seconds + 60)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    after = database_figures(db_file)
    flooded = flood_result[0] if flood_result else FloodResult()
    result = {
        "worker_class": args.worker_class or "gunicorn.conf.py (sync if there is none)",
        "workers": args.workers,
        "threads": args.threads or "gunicorn.conf.py",
        "valid_rate": args.rate,
        "seconds": args.seconds,
        "quiet_p50_ms": round(quiet.median, 2),
        "quiet_p99_ms": round(quiet.pct(99), 2),
        "quiet_max_ms": round(max(quiet.latencies_ms), 2),
        "quiet_errors": quiet.errors,
        "flood_p50_ms": round(loud.median, 2),
        "flood_p99_ms": round(loud.pct(99), 2),
        "flood_max_ms": round(max(loud.latencies_ms), 2),
        "flood_errors": loud.errors,
        "forged_sent": flooded.sent,
        "forged_per_s": round(flooded.sent / flooded.seconds, 1) if flooded.seconds else 0,
        "forged_statuses": dict(flooded.statuses),
        "forged_request_bytes": len(forged[0]) if forged else 0,
        "sources": args.sources,
        "rejection_rows_added": after["rejection_rows"] - after_quiet["rejection_rows"],
        "rejection_header_bytes_added": after["rejection_header_bytes"]
        - after_quiet["rejection_header_bytes"],
        "rejections_counted": after["rejections_counted"],
        # Both phases store the same number of valid events: the difference is the flood's.
        "database_bytes_added_quiet": after_quiet["database_bytes"] - before["database_bytes"],
        "database_bytes_added_flood": after["database_bytes"] - after_quiet["database_bytes"],
    }
    print(json.dumps(result, indent=2))


def _wait_up(port: int) -> None:
    import http.client

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/")
            if conn.getresponse().status in (200, 503):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


if __name__ == "__main__":
    main()
