"""Where the inbox's CPU goes: Django's WSGI handler called in this process (no server, no
sockets), the same signed requests to the bare view and to the inbox, batch after batch.

    python -m bench.ingest_sections [--requests 2000] [--rounds 5]
                                    [--variants as-is no-insert inbox-row]

``bench/ingest.py`` gives the ratio the issue asks for (wrk against gunicorn); this script says
which part of the inbox's request makes the difference, measured as this thread's CPU time per
request (``time.thread_time``, so other load on the machine disturbs it little):

* ``handler``: the whole WSGI call, the body read and the response closed;
* ``view``: the view function alone (middleware excluded);
* ``insert``: the receiver's SQLite statement (``inbox._sqlite_insert``), inside the view;
* ``close``: the response's ``close()`` (where the receiver's checkpoint runs);
* ``gc``: the garbage collector, whichever code it interrupted.

Variants, applied in this process only and interleaved round by round so that they share the
machine's state (a diagnostic: none of them is how the inbox works):

* ``as-is``: the receiver as it stands (on a SQLite file it stores an arrival, WebhookArrival);
* ``no-insert``: the SQLite statement replaced by a counter, everything else unchanged (what all
  the rest costs);
* ``inbox-row``: the same values inserted as an inbox row, every index of WebhookEvent written
  (the receiver before arrivals): what the inbox's indexes cost, directly and in the caches they
  evict. (From outside: ``bench/ingest.py`` with ``WEBHOOK_ARRIVALS=false`` in its environment.)

Runs on the embedded profile only (a scratch SQLite file, the bench settings); prints one line per
variant and round and a table of medians; every variant's stored rows are counted at the end, and
then the arrivals are moved into the inbox as the drain does, timed (CPU per arrival moved).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import gc
import io
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, cast

from bench.harness import Request, bench_env, manage
from bench.ingest import bare_requests, signed_requests

VARIANTS = ("as-is", "no-insert", "inbox-row")
SECTIONS = ("handler", "view", "insert", "close", "gc")


class Clock:
    """Thread CPU seconds per named section, for the batch being measured."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._gc_started = 0.0

    def add(self, name: str, seconds: float) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + seconds

    def timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(name, time.thread_time() - started)

        # Keep the view's attributes (csrf_exempt marks the function itself).
        timed_call.__dict__.update(function.__dict__)
        return timed_call

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.add("gc", time.thread_time() - self._gc_started)


def wsgi_environ(request: Request) -> dict[str, Any]:
    """What gunicorn hands Django for one of the bench's POSTs."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": request.path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    if not status.startswith("200"):
        raise SystemExit(f"the bench request was answered {status}")


class Bench:
    """The handler, instrumented, and the variants' switches."""

    def __init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.db import connection
        from django.urls import get_resolver

        from integrations.webhooks import inbox, views

        self.clock = Clock()
        self.inbox: Any = inbox  # its functions are swapped per variant
        self.connection = connection
        # The URL patterns take the view functions when they are imported: wrap them first.
        patched: Any = views
        patched.webhook_receive = self.clock.timed("view", views.webhook_receive)
        import bench.urls

        bare: Any = bench.urls.urlpatterns[0]
        bare.callback = self.clock.timed("view", bare.callback)
        get_resolver()
        self.handler = WSGIHandler()
        self.real_insert = self.clock.timed("insert", inbox._sqlite_insert)
        arrival = inbox._insert_plan(connection, arrival=True)
        self.plans = {"as-is": arrival, "inbox-row": self._inbox_row_plan(arrival)}
        self.counted = 0
        self.use("as-is")
        gc.callbacks.append(self.clock.on_gc)

    def _inbox_row_plan(self, arrival: Any) -> Any:
        """The arrival's values inserted as an inbox row, received and due now, with every index
        of the inbox written: the receiver before arrivals (only SQLite's own cursor runs it)."""
        from integrations.models import WebhookEvent
        from integrations.webhooks.inbox import ARRIVAL_FIELDS, INSERTED_FIELDS

        quote = self.connection.ops.quote_name
        meta = WebhookEvent._meta
        names = INSERTED_FIELDS  # the arrival's columns first, then the inbox's own
        columns = ", ".join(quote(str(meta.get_field(n).column)) for n in names)  # type: ignore[union-attr]
        values = [f"?{n}" for n in range(1, len(ARRIVAL_FIELDS) + 1)]
        received_at = f"?{ARRIVAL_FIELDS.index('received_at') + 1}"
        values += ["'received'", "0", received_at, "'[]'", "''", "''", "''"]
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608  # nosec B608  # names from model metadata
            f"VALUES ({', '.join(values)}) ON CONFLICT DO NOTHING RETURNING {quote('id')}"
        )
        return dataclasses.replace(arrival, sql=sql, sqlite_sql=sql)

    def use(self, variant: str) -> None:
        inbox = self.inbox
        plan = self.plans.get(variant, self.plans["as-is"])
        inbox._insert_plans[(self.connection.alias, True)] = plan
        inbox._sqlite_insert = self._counter if variant == "no-insert" else self.real_insert

    def _counter(self, connection: Any, plan: Any, params: tuple[Any, ...]) -> tuple[int]:
        self.counted += 1
        return (self.counted,)

    def run(self, requests: list[Request]) -> dict[str, float]:
        """Thread CPU µs per request: the whole handler and each section."""
        self.clock.spent.clear()
        for request in requests:
            started = time.thread_time()
            response = self.handler(wsgi_environ(request), cast("Any", _start_response))
            answered = time.thread_time()
            b"".join(response)
            response.close()
            self.clock.add("handler", time.thread_time() - started)
            self.clock.add("close", time.thread_time() - answered)
        return {name: self.clock.spent.get(name, 0.0) / len(requests) * 1e6 for name in SECTIONS}

    def move_all(self) -> str:
        """Move every arrival into the inbox as the drain does, and say what it cost: the other
        half of an arrival's price, paid by the task cluster instead of the answer."""
        from integrations.webhooks.inbox import webhook_arrivals_move

        started, moved = time.thread_time(), 0
        while batch := webhook_arrivals_move():
            moved += batch
        spent = time.thread_time() - started
        return f"moved {moved} arrivals into the inbox: {spent / max(moved, 1) * 1e6:.0f} µs each"

    def stored(self) -> dict[str, int]:
        from integrations.models import WebhookArrival, WebhookEvent

        return {
            "as-is": WebhookArrival.objects.count(),
            "inbox-row": WebhookEvent.objects.count(),
            "no-insert": self.counted,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per batch and endpoint")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args(argv)

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    env = bench_env(None)
    env["SANDBOX_WEBHOOK_SECRET"] = secret
    manage(env, "migrate", "--no-input")
    manage(env, "createcachetable")
    os.environ.update(env)
    import django

    django.setup()
    bench = Bench()
    warm = signed_requests(secret, 300)
    for variant in args.variants:
        bench.use(variant)
        bench.run(bare_requests(warm))
        bench.run(signed_requests(secret, 300))
    results: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {
        v: [] for v in args.variants
    }
    for round_number in range(1, args.rounds + 1):
        for variant in args.variants:
            bench.use(variant)
            batch = signed_requests(secret, args.requests)
            bare = bench.run(bare_requests(batch))
            inbox = bench.run(batch)
            results[variant].append((bare, inbox))
            print(
                f"round {round_number} {variant:9} bare {bare['handler']:5.0f} µs, inbox "
                f"{inbox['handler']:5.0f} µs (view {inbox['view']:.0f}, insert "
                f"{inbox['insert']:.0f}, close {inbox['close']:.0f}, gc {inbox['gc']:.0f}); "
                f"ratio {bare['handler'] / inbox['handler']:.2f}",
                flush=True,
            )
    print(
        "\n| variant | bare µs | inbox µs | inbox - bare | ratio | inbox view | insert | close "
        "| gc (bare / inbox) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for variant, pairs in results.items():

        def median(side: int, section: str, pairs: list[Any] = pairs) -> float:
            return statistics.median(pair[side][section] for pair in pairs)

        bare_us, inbox_us = median(0, "handler"), median(1, "handler")
        print(
            f"| {variant} | {bare_us:.0f} | {inbox_us:.0f} | {inbox_us - bare_us:.0f} "
            f"| {bare_us / inbox_us:.2f} | {median(1, 'view'):.0f} | {median(1, 'insert'):.0f} "
            f"| {median(1, 'close'):.0f} | {median(0, 'gc'):.0f} / {median(1, 'gc'):.0f} |"
        )
    print("\nrows stored: " + ", ".join(f"{k} {v}" for k, v in bench.stored().items()))
    print(bench.move_all())


if __name__ == "__main__":
    main()
