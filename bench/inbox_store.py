"""What each part of the inbox's table costs the acknowledgement: CPU per stored delivery.

    python -m bench.inbox_store [--events 3000] [--rounds 4]

Calls ``webhook_event_store`` (the insert the receiver makes before it answers 200, with its
write gate, its wake and its checkpoint counting) in a process of its own on a scratch SQLite
file migrated as the embedded profile migrates it, once per *variant* of the table:

* ``as is``: the table with every index it has;
* ``without <index>``: that index dropped before the first insert (one variant per secondary
  index of ``integrations_webhookevent``; the unique ``(provider, event_id)`` stays, the dedupe
  needs it);
* ``without the list indexes``: provider, status, event type and object id dropped together;
* ``1 KiB pages``: every index, on a file made with 1,024-byte pages instead of SQLite's 4,096
  (each index an insert touches appends one page image to the write-ahead log).

Variants run interleaved, round after round, each round a fresh process and database, so a
slower stretch of a shared machine falls on all of them; the figure per variant is the median of
its rounds' CPU per call (``time.process_time``), and the table gives each against ``as is`` in
the same run. The bodies are the signed Standard Webhooks events of ``bench.ingest``.

This measures the store alone, in one process: no HTTP, no concurrency. ``bench.ingest`` is the
end-to-end figure; this one says what an index or a storage choice is worth on that path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import ROOT

LIST_INDEXES = ("webhook_object", "webhook_provider_id", "webhook_status_id", "webhook_type_id")
SECONDARY_INDEXES = ("webhook_due", *LIST_INDEXES)


def variants() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {"as is": {"drop": [], "page_size": 0}}
    for name in SECONDARY_INDEXES:
        out[f"without {name}"] = {"drop": [name], "page_size": 0}
    out["without the list indexes"] = {"drop": list(LIST_INDEXES), "page_size": 0}
    out["1 KiB pages"] = {"drop": [], "page_size": 1024}
    return out


def child(events: int, drop: list[str], page_size: int) -> dict[str, float]:
    """In a fresh process: migrate a scratch file, shape the table, time the stores."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.ingest import signed_requests
    from integrations.webhooks.inbox import scrub_headers, webhook_event_store
    from integrations.webhooks.registry import get_webhook_endpoint

    if page_size:
        with connection.cursor() as cursor:  # an empty file: the page size can still change
            cursor.execute("PRAGMA journal_mode=DELETE")
            cursor.execute(f"PRAGMA page_size={int(page_size)}")
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA journal_mode=WAL")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        for name in drop:
            cursor.execute(f'DROP INDEX "{name}"')
    endpoint = get_webhook_endpoint("sandbox-payments")
    assert endpoint is not None
    secret = os.environ["SANDBOX_WEBHOOK_SECRET"]
    warm, timed = 300, events
    requests = signed_requests(secret, warm + timed)
    stores = []
    for request in requests:
        parsed = endpoint.parse(headers=request.headers, body=request.body)
        stored_headers = scrub_headers(request.headers, endpoint.secret_headers)
        stores.append((parsed, stored_headers, request.body))

    def store(batch: list) -> None:
        for parsed, headers, body in batch:
            result = webhook_event_store(
                provider="sandbox-payments", parsed=parsed, headers=headers, body=body.decode()
            )
            assert result.created

    store(stores[:warm])
    started = time.process_time()
    store(stores[warm:])
    cpu_us = (time.process_time() - started) / timed * 1e6
    return {"cpu_us": cpu_us}


def run_variant(events: int, spec: dict[str, object]) -> dict[str, float]:
    scratch = Path(tempfile.mkdtemp(prefix="switchboard-inbox-store-")) / "store.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"sqlite:///{scratch}",
        "REDIS_URL": "",
        "SANDBOX_WEBHOOK_SECRET": "whsec_" + "A" * 43 + "=",
        "PYTHONWARNINGS": "ignore",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "bench.inbox_store", "--child", json.dumps([events, spec])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"variant {spec} failed:\n{completed.stderr[-3000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        events, spec = json.loads(args.child)
        print(json.dumps(child(events, list(spec["drop"]), int(spec["page_size"]))))
        return
    specs = variants()
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in specs}
    for round_number in range(args.rounds):
        for name, spec in specs.items():
            figures[name].append(run_variant(args.events, spec))
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    base = statistics.median(f["cpu_us"] for f in figures["as is"])
    print(json.dumps(figures, indent=2))
    print(
        f"\n{args.events:,} stores per round, {args.rounds} rounds\n\n"
        "| table | CPU per stored delivery (median) | against as is | rounds |\n|---|---|---|---|"
    )
    for name, rounds in figures.items():
        cpu = statistics.median(f["cpu_us"] for f in rounds)
        spread = ", ".join(f"{f['cpu_us']:.0f}" for f in rounds)
        print(f"| {name} | {cpu:.0f} µs | {cpu / base:.2f} | {spread} |")


if __name__ == "__main__":
    main()
