"""What a /metrics scrape costs on a database with a few thousand rows of each kind it reads.

    .venv/bin/python -m bench.metrics_scrape [--rows 5000] [--scrapes 50] [--database var/x.sqlite3]

Builds a scratch embedded-profile database (SQLite, migrated) unless ``--database`` names one
already filled: ``--rows`` webhook inbox rows (a quarter of them unprocessed, over 8 providers),
as many deliveries (a fifth pending or failed, over 6 subscribers), as many provider calls
inside the ledger window (over 8 providers and 4 operations, 5% errors) and as many outside it,
8 breakers and 200 queued broker tasks. Then times ``ops_figures`` (the database reads) and a
whole authorised GET /metrics through Django's test client (reads plus the text format), one
warm-up each, and counts the scrape's queries with each one's time (the last scrape's). Prints p50 / p95 / max in milliseconds as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

TOKEN = "bench-metrics-token"  # noqa: S105 - a scratch database's token, set in-process only


def setup_django(database: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    storages = dict(settings.STORAGES)
    storages["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = storages
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []


def seed(rows: int) -> None:
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from django_q.models import OrmQ

    from integrations.models import (
        CircuitBreaker,
        Delivery,
        DomainEvent,
        ProviderCall,
        WebhookEvent,
    )

    call_command("migrate", verbosity=0)
    now = timezone.now()
    statuses = ["processed"] * 3 + ["received", "failed", "dead", "processing"]
    with transaction.atomic():
        WebhookEvent.objects.bulk_create(
            (
                WebhookEvent(
                    provider=f"provider{i % 8}",
                    event_id=f"evt-{i}",
                    status=statuses[i % len(statuses)] if i % 4 == 0 else "processed",
                    body="{}",
                    received_at=now - timedelta(seconds=i),
                )
                for i in range(rows)
            ),
            batch_size=1000,
        )
        events = DomainEvent.objects.bulk_create(
            (DomainEvent(type="order.paid", kind="order") for _ in range(rows)), batch_size=1000
        )
        delivery_statuses = ["succeeded"] * 4 + ["pending", "failed", "dead", "running"]
        Delivery.objects.bulk_create(
            (
                Delivery(
                    event=event,
                    subscriber=f"subscriber{i % 6}",
                    status=delivery_statuses[i % len(delivery_statuses)]
                    if i % 5 == 0
                    else "succeeded",
                )
                for i, event in enumerate(events)
            ),
            batch_size=1000,
        )
        for age in (timedelta(seconds=1), timedelta(hours=2)):
            ProviderCall.objects.bulk_create(
                (
                    ProviderCall(
                        provider=f"provider{i % 8}",
                        operation=f"op{i % 4}",
                        method="POST",
                        url="https://provider.example.test/v1/x",
                        outcome="timeout" if i % 20 == 0 else "success",
                        duration_ms=(i * 37) % 3000,
                        created_at=now - age - timedelta(milliseconds=i),
                    )
                    for i in range(rows)
                ),
                batch_size=1000,
            )
        for i in range(8):
            CircuitBreaker.objects.create(provider=f"provider{i}", state="closed")
        OrmQ.objects.bulk_create(
            OrmQ(key="switchboard", payload="x", lock=now - timedelta(seconds=1))
            for _ in range(200)
        )


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def measure(scrapes: int) -> dict[str, object]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from integrations.metrics import ops_figures

    client = Client()
    ops_figures()
    reads = []
    for _ in range(scrapes):
        started = time.perf_counter()
        ops_figures()
        reads.append(time.perf_counter() - started)
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    client.get("/metrics", **auth)
    whole = []
    for _ in range(scrapes):
        started = time.perf_counter()
        response = client.get("/metrics", **auth)
        whole.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/metrics", **auth)
    tables = ("webhookevent", "delivery", "circuitbreaker", "providercall", "ormq")
    per_query = [
        {
            "table": next((t for t in tables if t in query["sql"].split("FROM", 1)[-1]), "?"),
            "ms": round(float(query["time"]) * 1000, 1),
        }
        for query in queries.captured_queries
    ]
    return {
        "last_scrape_queries": per_query,
        "ops_figures": _summary(reads),
        "scrape": _summary(whole),
        "scrape_queries": len(queries.captured_queries),
        "scrape_bytes": len(response.content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--database", type=Path, help="an already seeded database")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        database = args.database or Path(scratch) / "metrics.sqlite3"
        setup_django(database)
        if args.database is None:
            seed(args.rows)
        result = {"rows": args.rows, "scrapes": args.scrapes, **measure(args.scrapes)}
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
