"""Shared benchmark plumbing: a scratch database, a gunicorn server, HTTP load on loopback.

Every server listens on 127.0.0.1 only; every load loop is bounded in requests and time.
"""

from __future__ import annotations

import http.client
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(database_url: str | None) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "PYTHONUNBUFFERED": "1"}
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        scratch = Path(tempfile.mkdtemp(prefix="switchboard-bench-")) / "bench.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{scratch}"
        env["REDIS_URL"] = ""
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return result.stdout


@dataclass(frozen=True)
class Server:
    port: int
    pid: int

    def workers_cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's worker processes (Linux /proc;
        NaN elsewhere). Differences over a round give the server's CPU per request, a figure
        other load on the machine disturbs far less than throughput."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
            total = 0
            for child in children:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
        except (OSError, IndexError, ValueError):
            return float("nan")
        return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2, threads: int = 1) -> Iterator[int]:
    with gunicorn_server(env, workers=workers, threads=threads) as server:
        yield server.port


@contextmanager
def gunicorn_server(env: dict[str, str], *, workers: int = 2, threads: int = 1) -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--no-control-socket",
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health/")
                if conn.getresponse().status in (200, 503):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield Server(port, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class LoadResult:
    sent: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def throughput(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def _post(conn: http.client.HTTPConnection, request: Request) -> int:
    conn.request("POST", request.path, body=request.body, headers=request.headers)
    response = conn.getresponse()
    response.read()
    return response.status


def closed_loop(port: int, requests: Sequence[Request], *, concurrency: int) -> LoadResult:
    """``concurrency`` keep-alive connections send ``requests`` back to back, as fast as served."""
    work: queue.Queue[Request] = queue.Queue()
    for r in requests:
        work.put(r)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            try:
                request = work.get_nowait()
            except queue.Empty:
                return
            start = time.perf_counter()
            try:
                status = _post(conn, request)
            except OSError:
                status = 0
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(len(requests), errors[0], time.perf_counter() - started, latencies)


def open_loop(
    port: int, requests: Sequence[Request], *, rate: float, connections: int = 16
) -> LoadResult:
    """Send at a steady ``rate`` per second whatever the answers; latency counts from the
    scheduled send time, so a slow server cannot hide its queueing (no coordinated omission)."""
    work: queue.Queue[tuple[float, Request] | None] = queue.Queue()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (item := work.get()) is not None:
            scheduled, request = item
            try:
                status = _post(conn, request)
            except OSError:
                status = 0
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = (time.perf_counter() - scheduled) * 1000
            with lock:
                latencies.append(elapsed)
                if status != 200:
                    errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    interval = 1.0 / rate
    started = time.perf_counter()
    for i, request in enumerate(requests):
        scheduled = started + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        work.put((scheduled, request))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    return LoadResult(len(requests), errors[0], time.perf_counter() - started, latencies)
