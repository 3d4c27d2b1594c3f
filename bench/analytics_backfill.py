"""Analytics backfill: events per second ``manage.py analytics_backfill`` sends to each sink.

    python -m bench.analytics_backfill [--events 5000] [--database-url postgres://...]

A scratch database (the embedded profile's SQLite by default) gets ``--events`` domain events
(order and usage events over 200 customers, recorded as history: no Delivery rows), then the
command runs once per sink: the warehouse (a scratch directory), and the fake Segment and
PostHog of the tests on loopback, spoken to through the official SDKs. Each sink is run twice:
the second run must add nothing (same ids), which the script checks.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import bench_env, manage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()

    env = bench_env(args.database_url or None)
    manage(env, "migrate", "--no-input")
    os.environ.update(env)
    warehouse = Path(tempfile.mkdtemp(prefix="switchboard-bench-warehouse-"))
    os.environ["ANALYTICS_BENCH_WAREHOUSE_DIR"] = str(warehouse)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import transaction

    from accounts.customers.services import customer_create
    from integrations.events import NewEvent, record_events, recording_history
    from tests.support.fake_posthog import serve_fake_posthog
    from tests.support.fake_segment import serve_fake_segment

    customers = [
        customer_create(name=f"Bench {n}", email=f"bench{n}@example.test").pk for n in range(200)
    ]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with recording_history(), transaction.atomic():
        half = args.events // 2
        record_events(
            type="order.paid",
            events=[
                NewEvent(customers[i % 200], {"number": f"SB-{i}"}, start + timedelta(minutes=i))
                for i in range(half)
            ],
        )
        record_events(
            type="usage.tracked",
            events=[
                NewEvent(
                    customers[i % 200],
                    {
                        "event": "report_exported",
                        "feature": "reports",
                        "client_event_id": f"evt-{i}",
                        "properties": {"format": "csv", "invitee_email": f"g{i}@example.test"},
                    },
                    start + timedelta(minutes=i),
                )
                for i in range(args.events - half)
            ],
        )

    def run(sink: str) -> float:
        started = time.perf_counter()
        call_command(
            "analytics_backfill", "--sink", sink, "--since", "2026-01-01", "--until", "2026-06-01",
            stdout=io.StringIO(), stderr=io.StringIO(),
        )  # fmt: skip
        return time.perf_counter() - started

    with serve_fake_segment() as segment, serve_fake_posthog() as posthog:
        settings.ANALYTICS_SEGMENT_WRITE_KEY = segment.write_key
        settings.ANALYTICS_SEGMENT_HOST = segment.url
        settings.ANALYTICS_POSTHOG_API_KEY = posthog.api_key
        settings.ANALYTICS_POSTHOG_HOST = posthog.url
        print(f"{args.events} events (half order.paid, half usage), 200 customers")
        for sink, kept in (
            ("warehouse", lambda: len(list(warehouse.rglob("*.jsonl")))),
            ("segment", lambda: len(segment.delivered)),
            ("posthog", lambda: len(posthog.delivered)),
        ):
            first = run(sink)
            second = run(sink)
            count = kept()
            print(
                f"{sink:<9} {args.events / first:8,.0f} events/s first run ({first:.1f} s), "
                f"{args.events / second:8,.0f} events/s again ({second:.1f} s); "
                f"kept once: {count == args.events}"
            )
            if count != args.events:
                sys.exit(f"{sink}: {count} kept, expected {args.events}")


if __name__ == "__main__":
    main()
