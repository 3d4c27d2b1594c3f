"""Webhook ingest: the inbox endpoint against a bare Django view, served the same way.

    python -m bench.ingest [--database-url postgres://...] [--workers 2 4] [--client both]
                           [--requests 3000] [--rounds 2] [--rate 200] [--seconds 15]

For each worker count in ``--workers`` it starts gunicorn (that many sync workers, 127.0.0.1) on a
scratch database, then measures in one run:

* closed-loop throughput of ``/bench/bare/`` and of ``/webhooks/sandbox-payments/``, alternating
  rounds (bare, inbox, bare, inbox...), same client, same concurrency. Both endpoints receive the
  IDENTICAL list of requests: each round signs a fresh list of distinct Standard Webhooks events
  (distinct, or the inbox would answer most of them from its dedupe) and sends it, byte for byte
  and header for header, first to the bare view, then to the inbox. The bare view
  (``bench/urls.py``) goes through the same middleware, reads the body and answers JSON: the floor.
* the clients: ``python`` (threads of ``http.client``, in this script) and ``wrk`` (if the ``wrk``
  binary is on PATH; ``bench/ingest_wrk.lua`` cycles the pre-signed requests, each wrk thread its
  own share). wrk is optional: ``--client both`` (the default) falls back to the Python client
  alone without it, ``--client wrk`` requires it. The Python client spends CPU of the same two
  cores per request, which caps the bare view's figure more than the inbox's, so its ratio reads
  higher than wrk's; report both.
* the server's CPU per request (user + system time of the gunicorn workers over each round, from
  /proc): a figure that the other load on a shared machine disturbs far less than throughput;
  bare CPU / inbox CPU is the ratio the server would reach if its CPU were the only limit.
* acknowledgement latency at a steady open-loop rate (``--rate`` per second for ``--seconds``),
  of the bare view and of the inbox, each with its own list of distinct signed events, timed from
  each request's scheduled send time (no coordinated omission).

Every inbox request is a distinct signed event, so each one is verified, stored and wakes the drain
exactly as in production.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    Request,
    Server,
    bench_env,
    closed_loop,
    gunicorn_server,
    manage,
    open_loop,
)

INBOX_PATH = "/webhooks/sandbox-payments/"
BARE_PATH = "/bench/bare/"
WRK_SCRIPT = Path(__file__).resolve().parent / "ingest_wrk.lua"
WRK_RESULT = re.compile(r"^WRK_RESULT (\{.*\})$", re.MULTILINE)


def signed_requests(secret: str, count: int) -> list[Request]:
    """``count`` distinct Standard Webhooks deliveries to the inbox, signed with ``secret`` now."""
    from standardwebhooks.webhooks import Webhook

    hook = Webhook(secret)
    now = datetime.now(tz=UTC)
    built = []
    for i in range(count):
        msg_id = f"msg_bench_{uuid.uuid4().hex}"
        body = json.dumps(
            {
                "type": "bench.noop",
                "timestamp": now.isoformat(),
                "data": {"id": f"obj_{i}", "amount": i},
            },
            separators=(",", ":"),
        )
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": hook.sign(msg_id=msg_id, timestamp=now, data=body),
            "content-type": "application/json",
        }
        built.append(Request(INBOX_PATH, body.encode(), headers))
    return built


def bare_requests(template: list[Request]) -> list[Request]:
    """The same requests (body and headers, the same objects) sent to the bare view."""
    return [Request(BARE_PATH, r.body, r.headers) for r in template]


def wrk_request_file(requests: list[Request], directory: Path) -> Path:
    """One request a line for ``ingest_wrk.lua``: webhook-id, timestamp, signature, body (tabs
    separate them; none of them holds a tab or a newline)."""
    path = directory / f"requests-{uuid.uuid4().hex}.tsv"
    lines = []
    for r in requests:
        fields = [
            r.headers["webhook-id"],
            r.headers["webhook-timestamp"],
            r.headers["webhook-signature"],
            r.body.decode(),
        ]
        if any("\t" in f or "\n" in f for f in fields):
            raise SystemExit("a bench request holds a tab or a newline")
        lines.append("\t".join(fields))
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    wrapped: int  # threads that ran out of distinct requests and started again (duplicates)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_run(
    port: int, path: str, request_file: Path, *, threads: int, connections: int, seconds: float
) -> WrkResult:
    completed = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "30s",
            "-s",
            str(WRK_SCRIPT),
            f"http://127.0.0.1:{port}{path}",
            "--",
            str(request_file),
            str(threads),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    found = WRK_RESULT.search(completed.stdout)
    if found is None:
        raise SystemExit(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    data = json.loads(found.group(1))
    return WrkResult(
        requests=int(data["requests"]),
        seconds=float(data["duration_us"]) / 1e6,
        non_2xx=int(data["status_errors"]),
        socket_errors=int(data["socket_errors"]),
        wrapped=int(data["wrapped"]),
    )


@dataclass
class Pair:
    bare: list[float] = field(default_factory=list)
    inbox: list[float] = field(default_factory=list)
    bare_cpu_us: list[float] = field(default_factory=list)
    inbox_cpu_us: list[float] = field(default_factory=list)

    def mean(self, which: str) -> float:
        values: list[float] = getattr(self, which)
        return sum(values) / len(values)

    @property
    def ratio(self) -> float:
        return self.mean("inbox") / self.mean("bare")

    @property
    def cpu_ratio(self) -> float:
        """bare CPU per request / inbox CPU per request: the throughput ratio if the server's
        CPU were the only limit."""
        return self.mean("bare_cpu_us") / self.mean("inbox_cpu_us")


def cpu_us_per_request(server: Server, before: float, requests: int) -> float:
    return (server.workers_cpu_seconds() - before) / requests * 1e6


def measure(args: argparse.Namespace, env: dict[str, str], secret: str, workers: int) -> dict:
    use_wrk = args.client in ("wrk", "both") and shutil.which("wrk") is not None
    use_python = args.client in ("python", "both")
    scratch = Path(tempfile.mkdtemp(prefix="switchboard-ingest-wrk-"))
    python, wrk = Pair(), Pair()
    wrk_problems: list[str] = []
    with gunicorn_server(env, workers=workers) as server:
        port = server.port
        warm = signed_requests(secret, 300)
        closed_loop(port, bare_requests(warm), concurrency=args.concurrency)
        closed_loop(port, warm, concurrency=args.concurrency)
        for _ in range(args.rounds):
            if use_python:
                batch = signed_requests(secret, args.requests)
                cpu = server.workers_cpu_seconds()
                bare = closed_loop(port, bare_requests(batch), concurrency=args.concurrency)
                python.bare_cpu_us.append(cpu_us_per_request(server, cpu, bare.sent))
                cpu = server.workers_cpu_seconds()
                inbox = closed_loop(port, batch, concurrency=args.concurrency)
                python.inbox_cpu_us.append(cpu_us_per_request(server, cpu, inbox.sent))
                if bare.errors or inbox.errors:
                    raise SystemExit(f"errors: bare {bare.errors}, inbox {inbox.errors}")
                python.bare.append(bare.throughput)
                python.inbox.append(inbox.throughput)
            if use_wrk:
                listed = wrk_request_file(signed_requests(secret, args.wrk_requests), scratch)
                for path, into, cpu_into in (
                    (BARE_PATH, wrk.bare, wrk.bare_cpu_us),
                    (INBOX_PATH, wrk.inbox, wrk.inbox_cpu_us),
                ):
                    cpu = server.workers_cpu_seconds()
                    run = wrk_run(
                        port,
                        path,
                        listed,
                        threads=args.wrk_threads,
                        connections=args.concurrency,
                        seconds=args.wrk_seconds,
                    )
                    if run.non_2xx or run.socket_errors or run.wrapped:
                        wrk_problems.append(f"{path}: {run}")
                    into.append(run.throughput)
                    cpu_into.append(cpu_us_per_request(server, cpu, run.requests))
        steady_count = int(args.rate * args.seconds)
        steady_bare = open_loop(
            port, bare_requests(signed_requests(secret, steady_count)), rate=args.rate
        )
        steady = open_loop(port, signed_requests(secret, steady_count), rate=args.rate)
    shutil.rmtree(scratch, ignore_errors=True)
    if wrk_problems:
        raise SystemExit("wrk run not clean: " + "; ".join(wrk_problems))
    result: dict = {"gunicorn_workers": workers, "concurrency": args.concurrency}
    for name, pair in (("python", python), ("wrk", wrk)):
        if pair.bare:
            result[name] = {
                "bare_req_per_s": [round(v, 1) for v in pair.bare],
                "inbox_req_per_s": [round(v, 1) for v in pair.inbox],
                "ratio": round(pair.ratio, 3),
                "bare_cpu_us_per_req": [round(v) for v in pair.bare_cpu_us],
                "inbox_cpu_us_per_req": [round(v) for v in pair.inbox_cpu_us],
                "cpu_ratio": round(pair.cpu_ratio, 3),
            }
    result["steady"] = {
        "rate": args.rate,
        "sent": steady.sent,
        "errors": steady.errors + steady_bare.errors,
        "bare_p50_ms": round(steady_bare.median, 2),
        "bare_p99_ms": round(steady_bare.pct(99), 2),
        "inbox_p50_ms": round(steady.median, 2),
        "inbox_p99_ms": round(steady.pct(99), 2),
        "inbox_max_ms": round(max(steady.latencies_ms), 2),
    }
    return result


def table_row(profile: str, result: dict) -> str:
    cells = [profile, f"{result['gunicorn_workers']} sync"]
    for name in ("python", "wrk"):
        if name in result:
            figures = result[name]
            bare = sum(figures["bare_req_per_s"]) / len(figures["bare_req_per_s"])
            inbox = sum(figures["inbox_req_per_s"]) / len(figures["inbox_req_per_s"])
            cells.append(f"{bare:,.0f}/s / {inbox:,.0f}/s / **{figures['ratio']:.2f}**")
            bare_cpu = sum(figures["bare_cpu_us_per_req"]) / len(figures["bare_cpu_us_per_req"])
            inbox_cpu = sum(figures["inbox_cpu_us_per_req"]) / len(figures["inbox_cpu_us_per_req"])
            cells.append(f"{bare_cpu:.0f} / {inbox_cpu:.0f} µs ({figures['cpu_ratio']:.2f})")
        else:
            cells += ["-", "-"]
    steady = result["steady"]
    cells += [
        f"{steady['inbox_p50_ms']:.1f} ms",
        f"{steady['inbox_p99_ms']:.1f} ms",
        f"{steady['bare_p99_ms']:.1f} ms",
        f"{steady['errors']} / {2 * steady['sent']:,}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument(
        "--client",
        choices=("python", "wrk", "both"),
        default="both",
        help="load client for the throughput rounds (both: wrk too if installed)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="per Python round and endpoint")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8, help="connections, both clients")
    parser.add_argument("--wrk-seconds", type=float, default=8.0, help="length of a wrk round")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--wrk-requests",
        type=int,
        default=60_000,
        help="distinct signed requests listed per wrk round (sent to both endpoints)",
    )
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of a steady run")
    args = parser.parse_args()
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("--client wrk: no wrk on PATH (use --client python)")

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = bench_env(args.database_url or None)
    env["SANDBOX_WEBHOOK_SECRET"] = secret
    manage(env, "migrate", "--no-input")
    manage(env, "createcachetable")
    profile = "PostgreSQL" if args.database_url else "SQLite (embedded)"

    results = [measure(args, env, secret, workers) for workers in args.workers]
    print(json.dumps({"profile": profile, "runs": results}, indent=2))
    print(
        "\n| profile | gunicorn | Python client: bare / inbox / ratio | server CPU per request "
        "| wrk: bare / inbox / ratio | server CPU per request | inbox p50 | inbox p99 | bare p99 "
        "| errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(table_row(profile, result))


if __name__ == "__main__":
    main()
