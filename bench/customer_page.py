# ruff: noqa: S608 - the SQL is built from integers and constants of this file, never input
"""The customer page (issue 14 item 5) for a customer with 100,000 events among 5,000,000.

::

    .venv/bin/python -m bench.customer_page                    # scratch SQLite file, 5M events
    .venv/bin/python -m bench.customer_page --database var/cp.sqlite3 --keep   # reuse it later
    .venv/bin/python -m bench.customer_page --events 500000 --customer-events 20000  # quick

Builds a scratch embedded-profile database (SQLite, migrated): ``seed_scale --orders N``
(``--seed-orders``, default 5,000) for realistic orders, payments, shipments and messages, then bulk SQL (recursive
CTEs, one INSERT ... SELECT per chunk) for the rest: one customer with ``--customer-events``
DomainEvents (product usage, messages with their queued/sent/delivered/read states and their
Notification rows, staff notes and their CustomerNote rows, CRM events, orders and payments)
and ``--events`` in all, spread over the seeded customers. Then ``ANALYZE``, as ``migrate``
does for new indexes.

Renders the page through the real admin view and Django's test client, signed in as a superuser
(no HTTP server: the view, its queries and its templates), for each case: the first page, a
deep page (the cursor of page 20), each source filter, a search that finds a few messages, one
that finds many notes, one that finds nothing, and source plus search. One warm-up request, then
``--requests`` timed ones; prints p50, p95, max and the query count; exits 1 when a p95 is over
``--goal-ms`` (150). A database given with ``--database`` that already holds the customer is
reused as is (no generation).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_EMAIL = "bench-360@example.test"
CHUNK = 250_000
FEATURES = 40


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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _insert_events(sql_select: str, count: int, params: list[Any]) -> None:
    """``count`` DomainEvents from ``sql_select`` (over ``n.i``, 0-based) in chunks."""
    from django.db import connection, transaction

    columns = (
        "type, kind, occurred_at, recorded_at, customer_id, actor_label, subject_type_id, "
        "subject_id, subject_label, data"
    )
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "WITH RECURSIVE n(i) AS (SELECT %s UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
                f"INSERT INTO integrations_domainevent ({columns}) {sql_select}",
                [done, done + size - 1, *params],
            )
        done += size
        log(f"  {done:,} / {count:,}")


def _stamp(offset_seconds: str) -> str:
    """SQL for a recorded time ``offset_seconds`` after 2025-01-01 UTC, as Django stores it."""
    return f"strftime('%Y-%m-%d %H:%M:%S', '2025-01-01 00:00:00', '+' || ({offset_seconds}) || ' seconds') || '.000000'"


def generate(*, events: int, customer_events: int, seed_orders: int) -> None:
    from io import StringIO

    from django.contrib.contenttypes.models import ContentType
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Customer, CustomerNote, User
    from integrations.models import DomainEvent
    from notifications.models import Notification

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    log(f"migrated in {time.monotonic() - started:.0f} s")
    call_command("seed_scale", orders=seed_orders, stdout=StringIO(), stderr=StringIO())
    log(f"seed_scale --orders {seed_orders:,}: {time.monotonic() - started:.0f} s")
    target = Customer.objects.create(name="Ana Bench", email=TARGET_EMAIL, phone="+5511900000360")
    author = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        "bench-admin", "bench-admin@example.test", "unused-password"
    )

    # The customer's history, in blocks of 25 recorded slots: slots 0-3 are one message's
    # queued/sent/delivered/read (16 % of the events), slot 4 a staff note (4 %), slot 9 of every
    # 100 a CRM event (1 %), the rest product usage (79 %).
    messages = notes = customer_events // 25
    now = timezone.now()
    Notification.objects.bulk_create(
        [
            Notification(
                customer=target,
                channel="email",
                template="order_shipped" if i % 10 else "refund_succeeded",
                recipient=TARGET_EMAIL,
                subject=f"Message {i}",
                body=(
                    f"Your refund {i} is on its way."
                    if i % 10 == 0
                    else f"Hello Ana, your parcel {i} left the warehouse."
                ),
                status="read",
                provider="sandbox",
                provider_message_id=f"bench-{i}",
                sent_at=now,
                delivered_at=now,
                read_at=now,
            )
            for i in range(messages)
        ],
        batch_size=2_000,
    )
    CustomerNote.objects.bulk_create(
        [
            CustomerNote(
                customer=target,
                author=author,
                body=f"Called about order {i}; promised a call back"
                if i % 50
                else f"Escalated complaint {i}",
            )
            for i in range(notes)
        ],
        batch_size=2_000,
    )
    notification_ct = ContentType.objects.get_for_model(Notification).pk
    note_ct = ContentType.objects.get_for_model(CustomerNote).pk
    first_message = Notification.objects.filter(customer=target).order_by("pk")[0].pk
    first_note = CustomerNote.objects.filter(customer=target).order_by("pk")[0].pk

    # One timeline in recorded order: slot s gets a usage, message-state, note or CRM event.
    # Messages: 4 consecutive slots per message (queued, sent, delivered, read) every 25 slots.
    log(f"customer {target.pk}: {customer_events:,} events")
    _insert_events(
        f"""
        SELECT
          CASE WHEN m < {messages} THEN
                 CASE i % 25 WHEN 0 THEN 'notification.queued' WHEN 1 THEN 'notification.sent'
                             WHEN 2 THEN 'notification.delivered' ELSE 'notification.read' END
               WHEN k % 25 = 4 AND k / 25 < {notes} THEN 'note.added'
               WHEN k % 100 = 9 THEN 'crm.deal_won'
               ELSE 'usage.feature_used' END,
          CASE WHEN m < {messages} THEN 'notification'
               WHEN k % 25 = 4 AND k / 25 < {notes} THEN 'note'
               WHEN k % 100 = 9 THEN 'crm'
               ELSE 'usage' END,
          {_stamp("i * 60")}, {_stamp("i * 60")},
          %s, 'bench',
          CASE WHEN m < {messages} THEN {notification_ct}
               WHEN k % 25 = 4 AND k / 25 < {notes} THEN {note_ct} ELSE NULL END,
          CASE WHEN m < {messages} THEN CAST({first_message} + m AS TEXT)
               WHEN k % 25 = 4 AND k / 25 < {notes} THEN CAST({first_note} + k / 25 AS TEXT)
               ELSE '' END,
          '',
          CASE WHEN m < {messages} THEN
                 '{{"channel": "email", "channel_label": "E-mail", "template": "order_shipped", '
                 || '"recipient": "{TARGET_EMAIL}", "provider": "sandbox", '
                 || '"provider_message_id": "bench-' || m || '"}}'
               WHEN k % 25 = 4 AND k / 25 < {notes} THEN '{{"excerpt": "Called about order"}}'
               ELSE '{{"properties": {{"feature": "f' || (k % {FEATURES}) || '"}}}}' END
        FROM (SELECT i, CASE WHEN i % 25 < 4 THEN (i / 25) ELSE {messages} END AS m,
                     i AS k FROM n)
        """,
        customer_events,
        [target.pk],
    )

    background = events - DomainEvent.objects.count()
    low, high = (
        Customer.objects.exclude(pk=target.pk).order_by("pk").values_list("pk", flat=True)[0],
        Customer.objects.exclude(pk=target.pk).order_by("-pk").values_list("pk", flat=True)[0],
    )
    spread = high - low + 1
    log(f"{background:,} background events over customers {low}..{high}")
    _insert_events(
        f"""
        SELECT
          CASE i % 5 WHEN 0 THEN 'order.paid' WHEN 1 THEN 'payment.succeeded'
                     ELSE 'usage.feature_used' END,
          CASE i % 5 WHEN 0 THEN 'order' WHEN 1 THEN 'payment' ELSE 'usage' END,
          {_stamp("(i % 50000000)")}, {_stamp("(i % 50000000)")},
          {low} + (i * 7919) % {spread}, 'bench', NULL, '', '',
          '{{"properties": {{"feature": "f' || (i % {FEATURES}) || '"}}}}'
        FROM n
        """,
        max(background, 0),
        [],
    )
    with connection.cursor() as cursor:
        log("ANALYZE ...")
        cursor.execute("ANALYZE")
    log(f"generated {DomainEvent.objects.count():,} events in {time.monotonic() - started:.0f} s")


def cases(target: Any) -> list[tuple[str, dict[str, Any]]]:
    from accounts.customers.selectors import TIMELINE_SOURCES, customer_timeline

    cursor: str | None = None
    for _ in range(19):
        cursor = customer_timeline(
            customer=target, before=cursor, collapse_messages=True
        ).next_cursor
    out: list[tuple[str, dict[str, Any]]] = [("first page", {})]
    if cursor:
        out.append(("page 20 (cursor)", {"before": cursor}))
    out += [(f"source = {s.label}", {"source": s.key}) for s in TIMELINE_SOURCES]
    out += [
        ("search, few messages: 'refund 1230'", {"q": "refund 1230"}),
        ("search, many notes: 'call back'", {"q": "call back"}),
        ("search, nothing: 'zzyzx'", {"q": "zzyzx"}),
        ("notes + search 'escalated'", {"source": "notes", "q": "escalated"}),
    ]
    return out


def measure(requests: int, goal_ms: float) -> bool:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from accounts.models import Customer, User
    from integrations.models import DomainEvent

    target = Customer.objects.get(email=TARGET_EMAIL)
    admin = User.objects.filter(is_superuser=True).first()
    assert admin is not None
    client = Client()
    client.force_login(admin)
    url = reverse("admin:accounts_customer_change", args=[target.pk])
    total = DomainEvent.objects.count()
    own = DomainEvent.objects.filter(customer=target).count()
    print(f"customer {target.pk}: {own:,} events of {total:,}; {requests} requests per case")
    print(f"{'case':44} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} {'rows':>5}")
    ok = True
    for name, params in cases(target):
        response = client.get(url, params)  # warm-up
        assert response.status_code == 200, (name, response.status_code)
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url, params)
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params)
        rows = response.content.count(b'<tr class="timeline-entry')
        timings.sort()
        p95 = timings[min(len(timings) - 1, round(0.95 * len(timings)) - 1)]
        ok = ok and p95 <= goal_ms
        print(
            f"{name:44} {statistics.median(timings):8.1f} {p95:8.1f} {timings[-1]:8.1f} "
            f"{len(queries):8d} {rows:5d}"
        )
    print(f"goal p95 <= {goal_ms:.0f} ms: {'met' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", type=Path, help="SQLite file (default: a scratch one)")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database")
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--customer-events", type=int, default=100_000)
    parser.add_argument("--seed-orders", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--goal-ms", type=float, default=150.0)
    args = parser.parse_args(argv)
    scratch = args.database is None
    database = args.database or Path(tempfile.mkdtemp(prefix="switchboard-cp-")) / "cp.sqlite3"
    setup_django(database)
    from accounts.models import Customer

    try:
        from django.db.utils import OperationalError

        try:
            reuse = Customer.objects.filter(email=TARGET_EMAIL).exists()
        except OperationalError:
            reuse = False
        if not reuse:
            generate(
                events=args.events,
                customer_events=args.customer_events,
                seed_orders=args.seed_orders,
            )
        return 0 if measure(args.requests, args.goal_ms) else 1
    finally:
        if scratch and not args.keep:
            for path in database.parent.glob(database.name + "*"):
                path.unlink()
            database.parent.rmdir()
        elif scratch:
            log(f"kept {database}")


if __name__ == "__main__":
    sys.exit(main())
