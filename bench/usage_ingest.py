"""Usage ingestion: events per second accepted by ``POST /api/v1/usage/`` in batches.

    python -m bench.usage_ingest [--database-url postgres://...] [--batches 40] [--batch-size 500]

In-process, through the real stack: Django's test ``Client`` sends each batch as an HTTP request
through the middleware, DRF, API-key authentication (a real key, hashed and scoped), throttling
and the view, on a scratch database migrated for the run (the embedded profile's SQLite in WAL
mode by default). No network hop and no gunicorn: the figure is the application's cost per event.
Events spread over 1,000 customers, three identity forms, 30 days and six features, so every
batch upserts many (customer, day) and (customer, feature) aggregate rows. A second pass sends
the same batches again: all duplicates, nothing counted twice (checked at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.harness import bench_env, manage

FEATURES = ["reports", "export", "checkout", "dashboard", "search", "api"]


def _batches(customers: list[tuple[int, str, str]], count: int, size: int) -> list[bytes]:
    rng = random.Random(14)
    now = datetime.now(tz=UTC)
    bodies = []
    for b in range(count):
        events = []
        for i in range(size):
            pk, email, external_id = rng.choice(customers)
            form = rng.choice([{"id": pk}, {"email": email}, {"external_id": external_id}])
            events.append(
                {
                    "id": f"bench-{b}-{i}",
                    "customer": form,
                    "event": "feature_used",
                    "timestamp": (now - timedelta(minutes=rng.randint(1, 30 * 1440))).isoformat(),
                    "properties": {"feature": rng.choice(FEATURES), "plan": "pro"},
                }
            )
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args()

    env = bench_env(args.database_url or None)
    manage(env, "migrate", "--no-input")
    manage(env, "createcachetable")
    os.environ.update(env)
    os.environ["API_KEY_RATE"] = "100000/min"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from accounts.access.api_keys import api_key_create
    from accounts.customers.services import customer_create, customer_identifier_link
    from accounts.models import CustomerIdentifier
    from usage.models import CustomerUsage, UsageEvent

    customers = []
    for n in range(args.customers):
        customer = customer_create(name=f"Bench {n}", email=f"bench{n}@example.test")
        customer_identifier_link(
            customer=customer, system=CustomerIdentifier.System.PRODUCT, external_id=f"usr_{n}"
        )
        customers.append((customer.pk, customer.email, f"usr_{n}"))
    _, raw_key = api_key_create(name="bench product", scopes=["usage:write"])
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {raw_key}", HTTP_HOST="127.0.0.1")
    bodies = _batches(customers, args.batches, args.batch_size)

    def send(body: bytes) -> dict:
        response = client.post("/api/v1/usage/", body, content_type="application/json")
        if response.status_code != 202:
            sys.exit(f"unexpected {response.status_code}: {response.content[:300]!r}")
        return response.json()

    send(_batches(customers, 1, 50)[0].replace(b"bench-", b"warm-"))  # warm caches, plan
    timings, accepted = [], 0
    started = time.perf_counter()
    for body in bodies:
        t0 = time.perf_counter()
        accepted += send(body)["accepted"]
        timings.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    retry_started = time.perf_counter()
    duplicates = sum(send(body)["duplicates"] for body in bodies)
    retry_elapsed = time.perf_counter() - retry_started

    total = args.batches * args.batch_size
    stored = UsageEvent.objects.filter(client_event_id__startswith="bench-").count()
    counted = sum(CustomerUsage.objects.values_list("events", flat=True)) - 50
    profile = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite (embedded)"
    print(f"profile: {profile}; {args.batches} batches of {args.batch_size} events")
    print(f"accepted: {accepted}/{total} in {elapsed:.2f} s = {accepted / elapsed:,.0f} events/s")
    ms = sorted(t * 1000 for t in timings)
    print(
        f"per batch: median {statistics.median(ms):.0f} ms, "
        f"p95 {ms[int(len(ms) * 0.95) - 1]:.0f} ms, max {ms[-1]:.0f} ms"
    )
    print(
        f"retried batches: {duplicates}/{total} duplicates in {retry_elapsed:.2f} s "
        f"= {duplicates / retry_elapsed:,.0f} events/s"
    )
    print(f"stored once: {stored == total}; aggregates count each once: {counted == total}")
    if accepted != total or duplicates != total or stored != total or counted != total:
        sys.exit("FAILED: events lost or counted twice")


if __name__ == "__main__":
    main()
