"""Drain wake-ups under a webhook flood: the task queue stays bounded and every event is run.

    python -m bench.drain_flood [--rate 500] [--seconds 60] [--q-workers 4] [--settle 180]

Starts, on a scratch SQLite file (the embedded profile: django-q2's ORM broker), gunicorn on
127.0.0.1 as ``run_demo`` does (the project's gunicorn.conf.py, 2 workers) and one task cluster
(``manage.py qcluster``, ``--q-workers`` workers). Sends distinct signed events to
``/webhooks/sandbox-payments/`` at a steady open-loop ``--rate`` for ``--seconds`` (bench.ingest's
helpers; an event type with no handler, so each is stored, claimed by a drain and finished as
``ignored``: the wake-up machinery is what is measured, not a handler). Every 0.5 s it samples the
broker's queue (rows of ``django_q_ormq``, queued or being run: drain tasks, and apart the cluster's
own scheduled tasks) and the inbox backlog; after the
load it waits at most ``--settle`` seconds for the backlog to empty.

Prints the acknowledgement latency, the queue depth (max, and mean over the load), the backlog's
peak, and the time until every event was finished.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.harness import ROOT, bench_env, free_port, manage, open_loop
from bench.ingest import signed_requests

DRAIN_TASK = "integrations.webhooks.tasks.drain"


def _counts(db_file: Path) -> dict[str, int]:
    """Broker rows (drain tasks, and the cluster's own scheduled ones) and inbox rows by status."""
    from django_q.signing import SignedPackage

    with sqlite3.connect(db_file, timeout=30) as conn:
        payloads = [row[0] for row in conn.execute("SELECT payload FROM django_q_ormq")]
        rows = dict(
            conn.execute(
                "SELECT status, COUNT(*) FROM integrations_webhookevent GROUP BY status"
            ).fetchall()
        )
    drains = sum(SignedPackage.loads(p).get("func") == DRAIN_TASK for p in payloads)
    return {"queued": drains, "queued_other": len(payloads) - drains, **rows}


def _backlog(counts: dict[str, int]) -> int:
    """Inbox events not finished yet."""
    return sum(v for k, v in counts.items() if k in ("received", "processing", "failed"))


def _setup_django(env: dict[str, str]) -> None:
    """This process reads the broker's signed payloads with the servers' settings."""
    os.environ.update(env)
    import django

    django.setup()


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own session: stopping it reaches its children (gunicorn's and the cluster's workers).
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_up(port: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load")
    parser.add_argument("--q-workers", type=int, default=4)
    parser.add_argument("--settle", type=float, default=180.0, help="max wait for the backlog")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = bench_env(None)
    env |= {"SANDBOX_WEBHOOK_SECRET": secret, "Q_WORKERS": str(args.q_workers)}
    manage(env, "migrate", "--no-input")
    _setup_django(env)
    db_file = Path(env["DATABASE_URL"].removeprefix("sqlite:///"))
    count = int(args.rate * args.seconds)
    requests = signed_requests(secret, count)

    port = free_port()
    web = _start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--no-control-socket",
            "--log-level",
            "error",
        ],
        env,
    )
    cluster = _start([sys.executable, "manage.py", "qcluster"], env)
    samples: list[tuple[float, dict[str, int]]] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        started = time.monotonic()
        while not stop_sampling.is_set():
            samples.append((time.monotonic() - started, _counts(db_file)))
            stop_sampling.wait(0.5)

    sampler = threading.Thread(target=sample)
    try:
        _wait_up(port)
        time.sleep(3)  # the cluster's workers are up
        sampler.start()
        load_started = time.monotonic()
        load = open_loop(port, requests, rate=args.rate, connections=args.connections)
        load_seconds = time.monotonic() - load_started
        settled_after = None
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline:
            counts = _counts(db_file)
            if _backlog(counts) == 0:
                settled_after = time.monotonic() - load_started
                break
            time.sleep(0.5)
        time.sleep(3)  # the last drains linger, then end
    finally:
        stop_sampling.set()
        if sampler.is_alive():
            sampler.join(timeout=30)
        _stop(web)
        _stop(cluster)

    final = _counts(db_file)
    during = [c for t, c in samples if t <= load_seconds]
    depths = [c["queued"] for _, c in samples]
    backlog = [_backlog(c) for _, c in samples]
    other = [c["queued_other"] for _, c in samples]
    result = {
        "rate": args.rate,
        "seconds": args.seconds,
        "q_workers": args.q_workers,
        "sent": load.sent,
        "achieved_per_s": round(load.throughput, 1),
        "ack_errors": load.errors,
        "ack_p50_ms": round(load.median, 2),
        "ack_p99_ms": round(load.pct(99), 2),
        "queue_depth_max": max(depths, default=0),
        "queue_depth_mean_during_load": round(statistics.mean(c["queued"] for c in during), 2)
        if during
        else None,
        "other_tasks_queued_max": max(other, default=0),
        "backlog_max": max(backlog, default=0),
        "all_finished_after_s": round(settled_after, 1) if settled_after else None,
        "final": final,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
