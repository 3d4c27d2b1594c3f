"""The admin's hot queries use an index: no full table scan, no sort of the whole table.

Each case renders an admin page (a changelist with its default ordering, a filter, an exact
search, a customer or order page) and asks the database for the plan of every SELECT it ran:
``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL (when ``DATABASE_URL`` points at one;
the CI runs both profiles). On PostgreSQL, sequential scans are priced out first
(``enable_seqscan`` off), as on a big table: a plan that still has one has no index to use. Figures at scale are in docs/benchmarks.md (bench/admin_scale.py).
"""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.customers.selectors import customer_timeline
from accounts.models import Customer
from integrations.models import DomainEvent, ProviderCall, WebhookEvent
from orders.models import Order
from payments.models import Payment
from shipping.models import Shipment

pytestmark = pytest.mark.django_db

# Small tables the admin reads by primary key or whole (sessions, users, content types, ...).
SMALL_TABLES = {
    "django_session",
    "django_content_type",
    "accounts_user",
    "accounts_user_groups",
    "auth_group",
    "auth_permission",
    "accounts_user_user_permissions",
    "auth_group_permissions",
    "integrations_circuitbreaker",
    "accounts_customeridentifier",
    "accounts_customernote",
    "orders_orderline",
    "payments_refundapproval",
}


@pytest.fixture
def seeded(db: None) -> None:
    call_command("seed_scale", orders=300, stdout=StringIO(), stderr=StringIO())


def changelist(app_model: str, **params: str) -> tuple[str, dict[str, str]]:
    return reverse(f"admin:{app_model}_changelist"), params


def _cases() -> list[tuple[str, Any]]:
    """(name, callable returning (url, params)) - callables, since values come from the data."""
    return [
        ("orders", lambda: changelist("orders_order")),
        ("orders delivered", lambda: changelist("orders_order", status__exact="delivered")),
        ("orders in USD", lambda: changelist("orders_order", currency__exact="USD")),
        (
            "orders by number",
            lambda: changelist("orders_order", q=Order.objects.all()[0].number.lower()),
        ),
        ("payments", lambda: changelist("payments_payment")),
        ("payments failed", lambda: changelist("payments_payment", status__exact="failed")),
        ("payments via stripe", lambda: changelist("payments_payment", provider="stripe")),
        (
            "payments by provider id",
            lambda: changelist("payments_payment", q=Payment.objects.all()[0].provider_payment_id),
        ),
        ("refund queue", lambda: changelist("payments_refund")),
        ("refunds, all", lambda: changelist("payments_refund", status="all")),
        ("disputes", lambda: changelist("payments_dispute")),
        ("shipments", lambda: changelist("shipping_shipment")),
        (
            "shipments in transit",
            lambda: changelist("shipping_shipment", status__exact="in_transit"),
        ),
        (
            "shipments by tracking status",
            lambda: changelist("shipping_shipment", tracking_status__exact="in_transit"),
        ),
        (
            "shipments by tracking code, lower case",
            lambda: changelist(
                "shipping_shipment",
                q=Shipment.objects.exclude(tracking_code="")[0].tracking_code.lower(),
            ),
        ),
        ("shipment alerts needing attention", lambda: changelist("shipping_shipmentalert")),
        ("shipment alerts, all", lambda: changelist("shipping_shipmentalert", status="all")),
        (
            "shipment alerts by reason",
            lambda: changelist("shipping_shipmentalert", reason__exact="lost", status="all"),
        ),
        ("notifications", lambda: changelist("notifications_notification")),
        (
            "notifications failed",
            lambda: changelist("notifications_notification", status__exact="failed"),
        ),
        ("webhook inbox", lambda: changelist("integrations_webhookevent")),
        (
            "webhook inbox dead",
            lambda: changelist("integrations_webhookevent", status__exact="dead"),
        ),
        (
            "webhook inbox by provider",
            lambda: changelist("integrations_webhookevent", provider="stripe"),
        ),
        (
            "webhook inbox by event id",
            lambda: changelist(
                "integrations_webhookevent", q=WebhookEvent.objects.all()[0].event_id
            ),
        ),
        ("provider calls", lambda: changelist("integrations_providercall")),
        (
            "provider calls timed out",
            lambda: changelist("integrations_providercall", outcome__exact="timeout"),
        ),
        (
            "provider calls by idempotency key",
            lambda: changelist(
                "integrations_providercall", q=ProviderCall.objects.all()[0].idempotency_key
            ),
        ),
        ("deliveries", lambda: changelist("integrations_delivery")),
        (
            "deliveries succeeded",
            lambda: changelist("integrations_delivery", status__exact="succeeded"),
        ),
        ("domain events", lambda: changelist("integrations_domainevent")),
        ("domain events of a kind", lambda: changelist("integrations_domainevent", kind="payment")),
        (
            "domain events by subject id",
            lambda: changelist(
                "integrations_domainevent",
                q=DomainEvent.objects.exclude(subject_id="")[0].subject_id,
            ),
        ),
        ("audit log", lambda: changelist("accounts_auditlogentry")),
        ("customers", lambda: changelist("accounts_customer")),
        (
            "customer by e-mail, upper case",
            lambda: changelist("accounts_customer", q=Customer.objects.all()[0].email.upper()),
        ),
        (
            "customer by phone",
            lambda: changelist("accounts_customer", q=Customer.objects.exclude(phone="")[0].phone),
        ),
        (
            "customer by order number",
            lambda: changelist("accounts_customer", q=Order.objects.all()[0].number),
        ),
        (
            "customer page (timeline)",
            lambda: (reverse("admin:accounts_customer_change", args=[_busiest_customer()]), {}),
        ),
        (
            "customer page, older timeline page",
            lambda: (
                reverse("admin:accounts_customer_change", args=[_busiest_customer()]),
                {"before": _timeline_cursor()},
            ),
        ),
        (
            "customer page, timeline of a kind",
            lambda: (
                reverse("admin:accounts_customer_change", args=[_busiest_customer()]),
                {"kind": "payment", "before": _timeline_cursor()},
            ),
        ),
        (
            "order page",
            lambda: (
                reverse("admin:orders_order_change", args=[Order.objects.all()[0].pk]),
                {},
            ),
        ),
    ]


def _busiest_customer() -> int:
    return (
        DomainEvent.objects.exclude(customer=None)
        .values("customer")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("customer", flat=True)[0]
    )


def _timeline_cursor() -> str:
    """The cursor to the busiest customer's second timeline page."""
    customer = Customer.objects.get(pk=_busiest_customer())
    cursor = customer_timeline(customer=customer, limit=5).next_cursor
    assert cursor is not None
    return cursor


CASES = _cases()


def plan_lines(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return [str(row[3]) for row in cursor.fetchall()]
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        return [str(row[0]) for row in cursor.fetchall()]


def full_scans(lines: list[str], tables: set[str], sql: str = "") -> list[str]:
    """Plan lines that read a whole table (or walk a whole index only to sort what it read) on
    tables that can grow. Sorting the few rows an index search found is fine, and so is walking
    a table in its primary key's order (SQLite's bare ``SCAN t`` when ORDER BY is t.id)."""
    found = []
    if connection.vendor == "sqlite":
        by_pk = re.search(r'ORDER BY "(\w+)"\."id"', sql)
        scans = [re.match(r"SCAN (\w+)(.*)", line.strip()) for line in lines]
        scanned = [m for m in scans if m and m.group(1) in tables]
        found += [
            m.group(0)
            for m in scanned
            if "INDEX" not in m.group(2) and not (by_pk and by_pk.group(1) == m.group(1))
        ]
        if scanned:
            found += [
                line for line in lines if re.search(r"TEMP B-TREE FOR (ORDER BY|DISTINCT)", line)
            ]
    else:
        for line in lines:
            seq = re.search(r"Seq Scan on (\w+)", line)
            if seq and seq.group(1) in tables:
                found.append(line)
    return found


def selects_of(url: str, params: dict[str, str], client: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200, url
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT")
    ]


def growing_tables() -> set[str]:
    return set(connection.introspection.table_names()) - SMALL_TABLES


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_admin_hot_queries_use_an_index(name, case, seeded, admin_client):
    url, params = case()
    tables = growing_tables()
    problems = {}
    for sql in selects_of(url, params, admin_client):
        bad = full_scans(plan_lines(sql), tables, sql)
        if bad:
            problems[sql[:300]] = bad
    assert not problems, f"{name}: {problems}"


def test_the_check_catches_a_full_scan(seeded):
    """The checker itself: an unindexed filter and an unindexed sort are reported."""
    tables = growing_tables()
    scan = str(Order.objects.filter(flag_reason="x").order_by("total_amount").query)
    scan = scan.replace("= x", "= 'x'")
    assert full_scans(plan_lines(scan), tables)
    indexed = str(Order.objects.filter(pk=1).query)
    assert not full_scans(plan_lines(indexed), tables)


def test_the_shipment_alert_scan_reads_through_indexes(seeded):
    """The hourly scan (shipping.alerts) reads each reason's candidates as a range on a
    (status, time) index and checks alerts through their unique index: no query of the run reads
    a whole table, however many shipments there are."""
    from datetime import timedelta

    from django.utils import timezone

    from shipping.alerts import shipment_alerts_scan
    from shipping.models import ShipmentAlert

    now = timezone.now()
    under_way = list(
        Shipment.objects.filter(status__in=["posted", "in_transit", "out_for_delivery"])
        .order_by("pk")
        .values_list("pk", flat=True)[:10]
    )
    stale, late = under_way[:5], under_way[5:]
    assert stale and late
    Shipment.objects.filter(pk__in=stale).update(last_tracking_at=now - timedelta(days=6))
    Shipment.objects.filter(pk__in=late).update(
        last_tracking_at=now - timedelta(hours=1), promised_delivery_on=now.date() - timedelta(2)
    )
    tables = growing_tables()
    for now in (timezone.now(), timezone.now() + timedelta(days=20)):
        with CaptureQueriesContext(connection) as captured:
            shipment_alerts_scan(now=now)
        selects = [
            q["sql"] for q in captured.captured_queries if q["sql"].lstrip().startswith("SELECT")
        ]
        assert any("shipping_shipment" in sql for sql in selects)
        problems = {sql[:300]: full_scans(plan_lines(sql), tables, sql) for sql in selects}
        assert not {sql: bad for sql, bad in problems.items() if bad}
    flagged = ShipmentAlert.objects.values_list("shipment_id", "reason")
    assert {(pk, "stale_scan") for pk in stale} <= set(flagged)
    assert {(pk, "past_promised_date") for pk in late} <= set(flagged)


@pytest.mark.parametrize(
    ("kinds", "index"),
    [(None, "event_customer_recorded"), (["payment"], "event_customer_kind_rec")],
)
def test_the_timeline_pages_along_its_index(seeded, kinds, index):
    """Every page of the customer timeline (newest recorded first, keyset on recorded_at, id) is
    a range of its index bounded above by the cursor: no sort, however deep the page."""
    customer = Customer.objects.get(pk=_busiest_customer())
    cursor = customer_timeline(customer=customer, limit=5).next_cursor
    with CaptureQueriesContext(connection) as captured:
        customer_timeline(customer=customer, kinds=kinds, before=cursor)
    (query,) = captured.captured_queries
    plan = " ".join(plan_lines(query["sql"]))
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
    assert not full_scans(plan_lines(query["sql"]), growing_tables(), query["sql"])
