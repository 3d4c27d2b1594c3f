"""Webhook processing: how fast workers drain a backlog of real payment events.

    python -m bench.process [--database-url postgres://...] [--backlog 10000] [--workers 1 2 4]

Seeds a scratch database with N placed orders, each with a pending payment, and N stored
``payment.succeeded`` events (the sandbox's own format) in the inbox; then W worker processes run
the production drain loop (``process_due_webhooks``) until the inbox is empty. Every event goes
through claim, parse, the amount check, ``payment_mark_succeeded`` + ``order_mark_paid`` (locks,
transitions, DomainEvents, Delivery rows for subscribers) and the inbox bookkeeping.
Reported: events per second for each (backlog, workers) pair, measured in one run.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import secrets
import time
from datetime import UTC, datetime

from bench.harness import bench_env, manage


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django

    django.setup()


def seed(env: dict[str, str], backlog: int) -> None:
    _setup_django(env)
    from django.db import transaction

    from accounts.models import Customer
    from integrations.models import DomainEvent, WebhookEvent
    from orders.models import Order
    from payments.models import Payment

    with transaction.atomic():
        WebhookEvent.objects.all().delete()
        customer, _ = Customer.objects.get_or_create(
            email="bench@example.test", defaults={"name": "Bench Customer"}
        )
        now = datetime.now(tz=UTC)
        start = (Order.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        orders = Order.objects.bulk_create(
            Order(
                number=f"BENCH-{start + i:08d}",
                customer=customer,
                currency="BRL",
                subtotal_amount=1000 + i,
                total_amount=1000 + i,
                placed_at=now,
                status_changed_at=now,
            )
            for i in range(backlog)
        )
        payments = Payment.objects.bulk_create(
            Payment(
                order=o,
                provider="sandbox",
                method="card",
                amount=o.total_amount,
                currency="BRL",
                provider_payment_id=f"sbx_pay_bench_{o.pk}",  # recorded when we created it
            )
            for o in orders
        )
        WebhookEvent.objects.bulk_create(
            WebhookEvent(
                provider="sandbox-payments",
                event_id=f"msg_bench_{p.pk}",
                event_type="payment.succeeded",
                headers={"webhook-id": f"msg_bench_{p.pk}"},
                body=json.dumps(
                    {
                        "type": "payment.succeeded",
                        "timestamp": now.isoformat(),
                        "data": {
                            "id": p.provider_payment_id,
                            "reference": f"payment:{p.pk}",
                            "amount": p.amount,
                            "currency": "BRL",
                        },
                    }
                ),
                next_attempt_at=now,
                object_id=f"sbx_pay_{p.pk}",
            )
            for p in payments
        )
        assert DomainEvent.objects.count() >= 0


def worker(
    env: dict[str, str],
    ready: multiprocessing.synchronize.Event,
    go: multiprocessing.synchronize.Event,
) -> None:
    _setup_django(env)
    from django.db import connection

    from integrations.webhooks.processing import process_due_webhooks

    connection.ensure_connection()
    ready.set()
    go.wait()
    while process_due_webhooks(limit=500):
        pass


def drain(env: dict[str, str], workers: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    readies = [ctx.Event() for _ in range(workers)]
    go = ctx.Event()
    procs = [ctx.Process(target=worker, args=(env, r, go)) for r in readies]
    for p in procs:
        p.start()
    for r in readies:
        r.wait(timeout=120)
    started = time.perf_counter()
    go.set()
    for p in procs:
        p.join(timeout=1800)
    return time.perf_counter() - started


def count(env: dict[str, str]) -> dict[str, int]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(_count, (env,))


def _count(env: dict[str, str]) -> dict[str, int]:
    _setup_django(env)
    from django.db.models import Count

    from integrations.models import WebhookEvent

    return dict(WebhookEvent.objects.values_list("status").annotate(n=Count("id")).order_by())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--double-backlog-workers", type=int, default=2)
    args = parser.parse_args()

    env = bench_env(args.database_url or None)
    env["SANDBOX_WEBHOOK_SECRET"] = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    manage(env, "migrate", "--no-input")
    manage(env, "createcachetable")
    profile = "PostgreSQL" if args.database_url else "SQLite (embedded)"
    runs = [(args.backlog, w) for w in args.workers]
    runs.append((args.backlog * 2, args.double_backlog_workers))
    rows = []
    for backlog, workers in runs:
        ctx = multiprocessing.get_context("spawn")
        seeder = ctx.Process(target=seed, args=(env, backlog))
        seeder.start()
        seeder.join()
        seconds = drain(env, workers)
        statuses = count(env)
        if statuses.get("processed", 0) != backlog:
            raise SystemExit(f"not all processed: {statuses}")
        rows.append(
            {
                "profile": profile,
                "backlog": backlog,
                "workers": workers,
                "seconds": round(seconds, 2),
                "events_per_s": round(backlog / seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print("\n| profile | backlog | workers | seconds | events/s |")
    for r in rows:
        print(
            f"| {r['profile']} | {r['backlog']} | {r['workers']} | {r['seconds']} | {r['events_per_s']} |"
        )


if __name__ == "__main__":
    main()
