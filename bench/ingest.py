"""Webhook ingest: the inbox endpoint against a bare Django view, served the same way.

    python -m bench.ingest [--database-url postgres://...] [--requests 3000] [--rate 200]

Starts gunicorn (2 sync workers, 127.0.0.1) on a scratch database, then measures in one run:
closed-loop throughput of ``/bench/bare/`` and of ``/webhooks/sandbox-payments/`` (alternating
rounds, same client, same concurrency), their ratio, and the acknowledgement latency of the inbox
at a steady open-loop rate. Every request is a distinct signed event, so each one is verified,
stored and enqueued for processing exactly as in production.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import uuid
from datetime import UTC, datetime

from bench.harness import Request, bench_env, closed_loop, gunicorn, manage, open_loop


def signed_requests(secret: str, count: int) -> list[Request]:
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
        built.append(Request("/webhooks/sandbox-payments/", body.encode(), headers))
    return built


def bare_requests(template: list[Request]) -> list[Request]:
    return [Request("/bench/bare/", r.body, r.headers) for r in template]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--requests", type=int, default=3000, help="per round and endpoint")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the steady run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn threads per worker (gthread)"
    )
    args = parser.parse_args()

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = bench_env(args.database_url or None)
    env["SANDBOX_WEBHOOK_SECRET"] = secret
    manage(env, "migrate", "--no-input")
    manage(env, "createcachetable")
    profile = "PostgreSQL" if args.database_url else "SQLite (embedded)"

    with gunicorn(env, workers=args.workers, threads=args.threads) as port:
        warm = signed_requests(secret, 300)
        closed_loop(port, bare_requests(warm), concurrency=args.concurrency)
        closed_loop(port, warm, concurrency=args.concurrency)
        bare_rates, inbox_rates = [], []
        for _ in range(args.rounds):
            batch = signed_requests(secret, args.requests)
            bare = closed_loop(port, bare_requests(batch), concurrency=args.concurrency)
            inbox = closed_loop(port, batch, concurrency=args.concurrency)
            if bare.errors or inbox.errors:
                raise SystemExit(f"errors: bare {bare.errors}, inbox {inbox.errors}")
            bare_rates.append(bare.throughput)
            inbox_rates.append(inbox.throughput)
        steady_count = int(args.rate * args.seconds)
        steady = open_loop(port, signed_requests(secret, steady_count), rate=args.rate)

    bare_rate = sum(bare_rates) / len(bare_rates)
    inbox_rate = sum(inbox_rates) / len(inbox_rates)
    result = {
        "profile": profile,
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "concurrency": args.concurrency,
        "bare_req_per_s": round(bare_rate, 1),
        "inbox_req_per_s": round(inbox_rate, 1),
        "ratio": round(inbox_rate / bare_rate, 3),
        "steady_rate": args.rate,
        "steady_sent": steady.sent,
        "steady_errors": steady.errors,
        "steady_p50_ms": round(steady.median, 2),
        "steady_p99_ms": round(steady.pct(99), 2),
        "steady_max_ms": round(max(steady.latencies_ms), 2),
    }
    print(json.dumps(result, indent=2))
    print(
        f"\n| {profile} | {bare_rate:.0f}/s | {inbox_rate:.0f}/s | {inbox_rate / bare_rate:.2f} "
        f"| {steady.median:.1f} ms | {steady.pct(99):.1f} ms | {steady.errors} |"
    )


if __name__ == "__main__":
    main()
