"""Quote fan-out under carrier faults (issue 12 item 10): ``POST /api/v1/shipping/quotes/`` while
Melhor Envio answers slowly (past the budget) and a second carrier is down.

    .venv/bin/python -m bench.quotes [--requests 60] [--budget 3.0] [--slow 5.0] [--down refused|503]

Embedded profile: a scratch SQLite database (WAL), in process through Django's test client with
an API key (no gunicorn: the figure is the view, the fan-out and its ledger writes). Carriers:
the in-process sandbox (answers), Melhor Envio on the fake server (tests/support) whose
``/me/shipment/calculate`` answers after ``--slow`` seconds, and the example carrier
(tests/support/example_carrier) at a loopback port with nothing listening (``refused``) or a
server answering 503 (``503``). The outbound read timeout is the default 5 s and the breaker's
settings are the defaults, so the breakers act as in production: once Melhor Envio's
failure ratio opens its circuit, it is skipped at once.

Goal: every answer 200 (never an error to the caller), p95 within the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any


@contextmanager
def _down_carrier(kind: str) -> Iterator[str]:
    from bench.harness import free_port
    from tests.support.loopback import serve_on_loopback

    if kind == "refused":
        yield f"http://127.0.0.1:{free_port()}"
        return

    class Unavailable(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serve_on_loopback(Unavailable) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--slow", type=float, default=5.0, help="Melhor Envio's answer, seconds")
    parser.add_argument("--down", choices=["refused", "503"], default="refused")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="switchboard-bench-")) / "quotes.sqlite3"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": f"sqlite:///{scratch}",
            "REDIS_URL": "",
        }
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from rest_framework.test import APIClient

    from accounts.access.api_keys import api_key_create
    from shipping.models import TableRate
    from shipping.workflows import quotes_settle
    from tests.support import fake_melhor_envio as fme

    call_command("migrate", verbosity=0)
    with fme.serve_fake_melhor_envio() as fake, _down_carrier(args.down) as down_url:
        fake.quote_delay = args.slow
        for name, value in {
            "SHIPPING_CARRIERS": [
                "shipping.carriers.sandbox",
                "shipping.carriers.melhor_envio",
                "tests.support.example_carrier",
            ],
            "SANDBOX_ENABLED": True,
            "MELHOR_ENVIO_ENABLED": True,
            "MELHOR_ENVIO_API_BASE": fake.url,
            "MELHOR_ENVIO_CLIENT_ID": fme.CLIENT_ID,
            "MELHOR_ENVIO_CLIENT_SECRET": fme.CLIENT_SECRET,
            "MELHOR_ENVIO_REFRESH_TOKEN": fme.FIRST_REFRESH_TOKEN,
            "MELHOR_ENVIO_CONTACT_EMAIL": "bench@example.test",
            "MELHOR_ENVIO_FROM_POSTAL_CODE": "01001000",
            "EXAMPLE_CARRIER_ENABLED": True,
            "EXAMPLE_CARRIER_URL": down_url,
            "SHIPPING_QUOTE_BUDGET_SECONDS": args.budget,
            "API_KEY_RATE": "100000/min",
            "ALLOWED_HOSTS": ["testserver"],
        }.items():
            setattr(settings, name, value)
        _, raw = api_key_create(name="bench", scopes=["shipping:quote"])
        client = APIClient(REMOTE_ADDR="127.0.0.1")
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        body = {
            "destination_postal_code": "20271-130",
            "declared_amount": 15000,
            "lines": [{"quantity": 2, "weight_grams": 500}],
        }
        client.post("/api/v1/shipping/quotes/", body, format="json")  # warm-up (URLconf, token)
        times: list[float] = []
        statuses: dict[int, int] = {}
        sources: dict[str, int] = {}
        skipped_me: dict[str, int] = {}
        for _ in range(args.requests):
            started = time.monotonic()
            response = client.post("/api/v1/shipping/quotes/", body, format="json")
            times.append((time.monotonic() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                answer = response.json()
                sources[answer["source"]] = sources.get(answer["source"], 0) + 1
                reason = {s["carrier"]: s["reason"] for s in answer["skipped"]}.get(
                    "melhor_envio", "answered"
                )
                kind = "circuit open" if "circuit open" in reason else reason.split(":")[0]
                skipped_me[kind] = skipped_me.get(kind, 0) + 1
        quotes_settle(timeout=args.slow + 10)
        times.sort()
        result = {
            "requests": args.requests,
            "budget_s": args.budget,
            "melhor_envio_answers_after_s": args.slow,
            "down_carrier": args.down,
            "statuses": statuses,
            "sources": sources,
            "melhor_envio": skipped_me,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
            "max_ms": round(times[-1], 1),
            "table_rates_kept": TableRate.objects.count(),
            "within_budget": times[max(0, int(len(times) * 0.95) - 1)] <= args.budget * 1000,
            "never_an_error": set(statuses) == {200},
        }
        print(json.dumps(result, indent=2))
        sys.exit(0 if result["within_budget"] and result["never_an_error"] else 1)


if __name__ == "__main__":
    main()
