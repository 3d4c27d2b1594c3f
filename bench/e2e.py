"""End to end: orders per second from the API to ``delivered``, through the sandbox, per worker count.

    python -m bench.e2e --profile embedded|scaled [--workers 2 4 8] [--orders 200] [--rate 40]

Starts the real processes on loopback (gunicorn, the main task cluster, the sweeper cluster; for
the scaled profile a private PostgreSQL cluster and redis-server too), with small sandbox delays
(0-50 ms) and no chaos. For each ``Q_WORKERS`` value the main cluster is restarted with it, a
warm-up batch is run, then a batch of ``--orders`` orders is placed through
``POST /api/v1/orders/`` at ``--rate`` per second (above what the cluster completes, so a backlog
forms) and the database is polled until every order is ``delivered`` and all follow-up work
(tracking, notifications and their receipts) is done.

Reported per worker count, from the orders' own timestamps: the delivered rate (orders / time
from the first order placed to the last one delivered) and per worker, per-order latency placed
-> delivered, the settled rate (orders / time until all follow-up work was done: the last
notifications and their WhatsApp receipts), and the peak number of tasks waiting in the main
cluster's queue by task function (sampled every 2 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import datetime
from typing import Any

from bench.services import (
    OrderLoad,
    QueueSampler,
    Stack,
    Workdir,
    become_subreaper,
    correctness_checks,
    create_api_key,
    django_setup,
    flow_env,
    load_average,
    reap_orphans,
    servers,
    tracebacks,
    wait_settled,
)


def _max_order_pk() -> int:
    from orders.models import Order

    return int(Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)


def _wait_delivered(first_pk: int, count: int, timeout: float) -> bool:
    from orders.models import Order

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = Order.objects.filter(pk__gt=first_pk)
        if batch.count() >= count and not batch.exclude(status="delivered").exists():
            return True
        time.sleep(0.5)
    return False


def _seconds(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def run_batch(
    stack: Stack, key: str, *, tag: str, count: int, rate: float, timeout: float
) -> dict[str, Any]:
    from orders.models import Order

    first_pk = _max_order_pk()
    load_before = load_average()
    load = OrderLoad(stack.port, key, tag, rate, count)
    with QueueSampler() as sampler:
        load.start()
        load.join(timeout=count / rate + 120)
        statuses = load.statuses()
        if statuses.get(201, 0) != count:
            raise SystemExit(f"{tag}: not every order was placed: {dict(statuses)}")
        delivered = _wait_delivered(first_pk, count, timeout)
        settled, settled_at, left = wait_settled(timeout=timeout, stall=120)
    if not (delivered and settled):
        raise SystemExit(f"{tag}: did not settle within {timeout:.0f}s: {left}")
    rows = list(Order.objects.filter(pk__gt=first_pk).values_list("placed_at", "status_changed_at"))
    first = min(p for p, _ in rows)
    done = sorted(d for _, d in rows)
    latencies = sorted(_seconds(p, d) for p, d in rows)
    span = _seconds(first, done[-1])
    return {
        "orders": len(rows),
        "placing_s": round(count / rate, 1),
        "batch_s": round(span, 1),
        "batch_orders_per_s": round(len(rows) / span, 2),
        "latency_p50_s": round(statistics.median(latencies), 1),
        "latency_p95_s": round(latencies[int(0.95 * len(latencies)) - 1], 1),
        "settled_s": round(settled_at - first.timestamp(), 1),
        "settled_orders_per_s": round(len(rows) / (settled_at - first.timestamp()), 2),
        "peak_queued": dict(sampler.peak.most_common(4)),
        "load_avg": f"{load_before} -> {load_average()}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=["embedded", "scaled"], required=True)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--orders", type=int, default=200, help="orders per measured batch")
    parser.add_argument("--rate", type=float, default=40.0, help="orders placed per second")
    parser.add_argument("--warmup", type=int, default=20, help="orders before each batch")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--web-worker-class",
        default="",
        help="gunicorn worker class (default: the project's gunicorn.conf.py, else sync)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="per batch, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()

    become_subreaper()
    workdir = Workdir(keep=args.keep)
    rows: list[dict[str, Any]] = []
    try:
        with servers(args.profile, workdir.path) as (pg, rds):
            env = flow_env(
                database_url=pg.url if pg else "",
                redis_url=rds.url if rds else "",
                workdir=workdir.path,
                extra={
                    "SANDBOX_DELAY_MIN_MS": "0",
                    "SANDBOX_DELAY_MAX_MS": "50",
                    "Q_WORKERS": str(args.workers[0]),
                },
            )
            stack = Stack(
                env,
                workdir.path,
                web_workers=args.web_workers,
                web_class=args.web_worker_class,
            )
            stack.prepare()
            django_setup(stack.env)
            key = create_api_key()
            stack.start()
            try:
                for workers in args.workers:
                    stack.restart_tasks({"Q_WORKERS": str(workers)})
                    reap_orphans(stack.pids())
                    time.sleep(3)
                    run_batch(
                        stack,
                        key,
                        tag=f"warm{workers}",
                        count=args.warmup,
                        rate=args.rate,
                        timeout=args.timeout,
                    )
                    row = run_batch(
                        stack,
                        key,
                        tag=f"w{workers}",
                        count=args.orders,
                        rate=args.rate,
                        timeout=args.timeout,
                    )
                    row = {"profile": args.profile, "q_workers": workers, **row}
                    row["orders_per_s_per_worker"] = round(row["batch_orders_per_s"] / workers, 2)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                failed = [c for c in correctness_checks() if not c.ok]
                errors = {m.name: tracebacks(m.log) for m in stack.members}
            finally:
                stack.stop()
                reap_orphans(stack.pids())
    finally:
        workdir.cleanup()

    print(f"\ncorrectness checks failed: {[(c.name, c.value) for c in failed] or 'none'}")
    print(f"Traceback lines in logs: {errors}")
    print(
        "\n| profile | Q_WORKERS | orders | batch s | delivered orders/s "
        "| per worker | p50 s | p95 s | settled orders/s | peak queued tasks | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['profile']} | {r['q_workers']} | {r['orders']} | {r['batch_s']} "
            f"| {r['batch_orders_per_s']} | {r['orders_per_s_per_worker']} | {r['latency_p50_s']} | {r['latency_p95_s']} "
            f"| {r['settled_orders_per_s']} "
            f"| {', '.join(f'{k} {v}' for k, v in r['peak_queued'].items())} | {r['load_avg']} |"
        )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
