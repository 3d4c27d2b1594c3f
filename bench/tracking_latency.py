"""Tracking webhook to customer notified: how long a carrier's scan takes to reach the customer.

    python -m bench.tracking_latency [--webhooks 200] [--rate 10] [--workers 4] [--timeout 180]

The embedded profile (a scratch SQLite file) with the real processes on loopback, as ``run_demo``
runs them (``bench.services.Stack``: gunicorn with the project's gunicorn.conf.py, the django-q2
task cluster and the sweeper cluster), Melhor Envio enabled and active with a throwaway app
secret. ``--webhooks`` labelled Melhor Envio shipments, one per customer, are recorded as
history first (nothing queued). Then, from this process, one signed ``order.posted`` webhook
per shipment (``X-ME-Signature``, base64 HMAC-SHA256 of the raw body with the app secret, the
body the fake Melhor Envio sends) is POSTed to ``/webhooks/melhor-envio/`` at a steady
``--rate`` per second (open loop), and the database is polled until each customer's
``shipment_posted`` notification exists (on the rule's first channel) and has been sent, or
``--timeout``.

Latency per webhook, from the moment it was due to be sent (no coordinated omission): to the
first ``shipment_posted`` Notification row (the customer's message queued) and to the last of
them sent (e-mail through the console backend, WhatsApp through the sandbox: every channel
handed to its provider). Reported: p50, p95, p99 and max, the webhook answers, duplicates (a
customer told twice on one channel) and Traceback lines in the processes' logs. Goal: p99 at
most 60 s. Exits 1 when a webhook was refused, a customer was not told, or told twice.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.services import (
    Stack,
    Workdir,
    become_subreaper,
    django_setup,
    flow_env,
    load_average,
    reap_orphans,
    tracebacks,
)

TEMPLATE = "shipment_posted"


@dataclass
class Posted:
    shipment_id: int
    customer_id: int
    due: float  # wall clock, when it was due to be sent
    status: int = -1
    answer_ms: float = 0.0


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def _history(count: int) -> list[tuple[int, int, str, str]]:
    """``count`` customers, each with a paid order and a labelled Melhor Envio shipment, recorded
    as history (no subscriber runs). Answers (shipment pk, customer pk, ME order id, code)."""
    from django.db import transaction

    from accounts.customers.services import customer_create
    from integrations.events import recording_history
    from orders.services import OrderLineInput, ShippingAddress, order_place
    from payments.services import payment_create, payment_mark_succeeded
    from shipping.services import shipment_create, shipment_purchase_label

    tag = uuid.uuid4().hex[:6]
    made = []
    for i in range(count):
        with transaction.atomic(), recording_history():
            customer = customer_create(
                name=f"Tracking Bench {i}",
                email=f"track-{tag}-{i}@bench.example.test",
                phone=f"+551197{(i * 7919 + 1234567) % 10**7:07d}".replace("0000", "0001"),
            )
            order = order_place(
                customer=customer,
                currency="BRL",
                lines=[OrderLineInput("CAF-250", "Coffee 250 g", 1, 4_990)],
                shipping_amount=1_990,
                shipping_address=ShippingAddress(
                    name=customer.name,
                    street="Rua São Francisco Xavier",
                    number=str(100 + i),
                    district="Maracanã",
                    city="Rio de Janeiro",
                    state="RJ",
                    postal_code="20271-130",
                ),
            )
            payment = payment_create(order=order, provider="sandbox", method="pix")
            payment_mark_succeeded(payment=payment)
            shipment = shipment_create(
                order=order, carrier="melhor_envio", service="Correios PAC #1", cost_amount=2_350
            )
            me_order = str(uuid.uuid4())
            code = f"ME{i + 1:08d}BR"
            shipment_purchase_label(
                shipment=shipment,
                tracking_code=code,
                provider_shipment_id=me_order,
                label_url=f"https://sandbox.melhorenvio.com.br/imprimir/{me_order[:8]}",
            )
        made.append((shipment.pk, customer.pk, me_order, code))
    return made


def _body(shipment_id: int, me_order: str, code: str, i: int) -> bytes:
    """``order.posted`` as the fake Melhor Envio sends it (``config/fake_providers``)."""
    from django.utils import timezone

    from config.fake_providers.melhor_envio import me_time

    now = me_time(timezone.now())
    data = {
        "id": me_order,
        "protocol": f"ORD-2026{i + 1:08d}",
        "status": "posted",
        "tracking": f"AB{i + 1:09d}BR",
        "self_tracking": code,
        "tracking_url": f"https://melhorrastreio.com.br/rastreio/{code}",
        "tags": [{"tag": f"shipment:{shipment_id}", "url": None}],
        "posted_at": now,
        "updated_at": now,
    }
    return json.dumps({"event": "order.posted", "data": data}, separators=(",", ":")).encode()


def _send(
    port: int, secret: str, targets: list[tuple[int, int, str, str]], rate: float
) -> list[Posted]:
    """One signed webhook per target at ``rate`` per second over 8 keep-alive connections."""
    import queue

    work: queue.Queue[tuple[Posted, bytes] | None] = queue.Queue()
    results: list[Posted] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while (item := work.get()) is not None:
            posted, body = item
            signature = base64.b64encode(
                hmac.new(secret.encode(), body, hashlib.sha256).digest()
            ).decode()
            started = time.perf_counter()
            try:
                conn.request(
                    "POST",
                    "/webhooks/melhor-envio/",
                    body=body,
                    headers={"Content-Type": "application/json", "X-ME-Signature": signature},
                )
                response = conn.getresponse()
                response.read()
                posted.status = response.status
            except (OSError, http.client.HTTPException):
                posted.status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            posted.answer_ms = (time.perf_counter() - started) * 1000
            with lock:
                results.append(posted)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    started = time.monotonic()
    wall = time.time()
    for i, (shipment_id, customer_id, me_order, code) in enumerate(targets):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        posted = Posted(shipment_id, customer_id, due=wall + i / rate)
        work.put((posted, _body(shipment_id, me_order, code, i)))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(60)
    return results


def _told(customer_ids: list[int]) -> dict[int, list[tuple[str, datetime, datetime | None]]]:
    """Each customer's ``shipment_posted`` notifications: (channel, created, sent)."""
    from django.db import connections

    from notifications.models import Notification

    connections.close_all()
    found: dict[int, list[tuple[str, datetime, datetime | None]]] = {}
    rows = Notification.objects.filter(customer_id__in=customer_ids, template=TEMPLATE).values_list(
        "customer_id", "channel", "created_at", "sent_at"
    )
    for customer_id, channel, created, sent in rows:
        found.setdefault(customer_id, []).append((channel, created, sent))
    return found


def _done(rows: list[tuple[str, datetime, datetime | None]], channels: int) -> bool:
    return len({c for c, _, _ in rows}) >= channels and all(sent for _, _, sent in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks posted per second")
    parser.add_argument("--workers", type=int, default=4, help="Q_WORKERS of the task cluster")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for all")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args()

    from config.fake_providers.melhor_envio import app_env

    become_subreaper()
    workdir = Workdir(keep=args.keep)
    secret = secrets.token_urlsafe(32)
    failures: list[str] = []
    try:
        env = flow_env(
            database_url="",
            redis_url="",
            workdir=workdir.path,
            extra={
                # Melhor Envio active, as with DEMO_CARRIER=melhor_envio; nothing calls its API
                # here (the shipments are labelled as history), only its webhook is verified.
                **app_env(
                    api_base="http://127.0.0.1:9/api/v2",
                    client_secret=secret,
                    refresh_token=f"def50200{secrets.token_hex(16)}",
                ),
                "Q_WORKERS": str(args.workers),
                "SANDBOX_DELAY_MIN_MS": "200",
                "SANDBOX_DELAY_MAX_MS": "1500",
            },
        )
        stack = Stack(env, workdir.path)
        stack.prepare()
        django_setup(stack.env)
        from django.conf import settings

        # One message per event since the notification rules: the rule's first usable channel.
        channels = 1 if settings.MESSAGE_CHANNELS else 0
        print(f"recording {args.webhooks} labelled shipments as history ...", flush=True)
        targets = _history(args.webhooks)
        stack.start()
        try:
            time.sleep(3)
            load_before = load_average()
            print(f"posting {len(targets)} webhooks at {args.rate}/s ...", flush=True)
            posted = _send(stack.port, secret, targets, args.rate)
            refused = [p for p in posted if p.status != 200]
            if refused:
                failures.append(f"{len(refused)} webhooks not answered 200")
            customers = [p.customer_id for p in posted]
            deadline = time.monotonic() + args.timeout
            told = _told(customers)
            while time.monotonic() < deadline:
                told = _told(customers)
                if all(_done(told.get(c, []), channels) for c in customers):
                    break
                time.sleep(0.5)
            load_after = load_average()
            errors = {m.name: tracebacks(m.log) for m in stack.members}
        finally:
            stack.stop()
            reap_orphans(stack.pids())
    finally:
        workdir.cleanup()

    queued: list[float] = []
    sent: list[float] = []
    duplicates = missing = 0
    posted.sort(key=lambda p: p.due)
    for p in posted:
        rows = told.get(p.customer_id, [])
        by_channel = [c for c, _, _ in rows]
        duplicates += len(by_channel) - len(set(by_channel))
        if not _done(rows, channels):
            missing += 1
            continue
        queued.append(min(created for _, created, _ in rows).timestamp() - p.due)
        sent.append(max(s for _, _, s in rows if s is not None).timestamp() - p.due)
    if missing:
        failures.append(f"{missing} customers not told on every channel within {args.timeout:.0f}s")
    if duplicates:
        failures.append(f"{duplicates} duplicate notifications")
    answers = [p.answer_ms for p in posted]
    row: dict[str, Any] = {
        "webhooks": len(posted),
        "rate_per_s": args.rate,
        "q_workers": args.workers,
        "answer_p99_ms": round(_pct(answers, 99), 1) if answers else None,
    }
    for name, values in (("queued", queued), ("sent", sent)):
        if values:
            row.update(
                {
                    f"{name}_p50_s": round(_pct(values, 50), 2),
                    f"{name}_p95_s": round(_pct(values, 95), 2),
                    f"{name}_p99_s": round(_pct(values, 99), 2),
                    f"{name}_max_s": round(max(values), 2),
                }
            )
    if len(sent) >= 10:
        # In sending order: does the latency grow with the backlog, or is it there from the start?
        tenth = len(sent) // 10
        row["sent_median_by_tenth_s"] = [
            round(_pct(sent[i * tenth : (i + 1) * tenth], 50), 1) for i in range(10)
        ]
    row["load_avg"] = f"{load_before} -> {load_after}"
    print(json.dumps(row), flush=True)
    print(f"Traceback lines in logs: {errors}")
    print(
        "\n| webhooks | rate/s | Q_WORKERS | answer p99 | notification queued p50 / p95 / p99 / max "
        "| sent on every channel p50 / p95 / p99 / max | load avg |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {row['webhooks']} | {args.rate:g} | {args.workers} | {row['answer_p99_ms']} ms "
        f"| {row.get('queued_p50_s')} / {row.get('queued_p95_s')} / {row.get('queued_p99_s')} / "
        f"{row.get('queued_max_s')} s | {row.get('sent_p50_s')} / {row.get('sent_p95_s')} / "
        f"{row.get('sent_p99_s')} / {row.get('sent_max_s')} s | {row['load_avg']} |"
    )
    print(f"\nfailures: {failures or 'none'}")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
