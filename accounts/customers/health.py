"""The customer's health score, 0 to 100, as the sum of five parts each shown with why.

Computed from the other summary parts (usage, payments, consent) plus one query over the
customer's recent DomainEvents (payment failures and delivery problems), so the page header and
``GET /api/v1/customers/{id}/context/`` give the same figure. The formula is documented in
docs/customer-page.md; change both together.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count
from django.utils import timezone

from accounts.models import Customer
from integrations.models import DomainEvent

WINDOW_DAYS = 30
PAYMENT_FAILURE_TYPES = ("payment.failed",)
DELIVERY_PROBLEM_TYPES = (
    "shipment.delivery_failed",
    "shipment.returned",
    "shipment.lost",
    "shipment.exception",
    "shipment.delayed",
)
GOOD_FROM = 70
AT_RISK_BELOW = 40


def _part(key: str, label: str, points: int, maximum: int, detail: str) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "points": max(0, min(maximum, points)),
        "max": maximum,
        "detail": detail,
    }


def _recent_problems(customer: Customer) -> dict[str, int]:
    """Payment failures and delivery problems recorded in the last ``WINDOW_DAYS``: one
    query, a range of the (customer, kind, recorded_at) index per kind."""
    since = timezone.now() - timedelta(days=WINDOW_DAYS)
    counts = {
        row["type"]: row["n"]
        for row in DomainEvent.objects.filter(
            customer=customer,
            kind__in=("payment", "shipment"),
            type__in=PAYMENT_FAILURE_TYPES + DELIVERY_PROBLEM_TYPES,
            recorded_at__gte=since,
        )
        .order_by()
        .values("type")
        .annotate(n=Count("id"))
    }
    return {
        "payment_failures": sum(counts.get(t, 0) for t in PAYMENT_FAILURE_TYPES),
        "delivery_problems": sum(counts.get(t, 0) for t in DELIVERY_PROBLEM_TYPES),
    }


def customer_health(customer: Customer, summary: dict[str, Any]) -> dict[str, Any]:
    """``{"score", "band", "parts": [{"key", "label", "points", "max", "detail"}, ...]}``.

    Parts (maximum points): activity 30 (3 per active day in the last 30, from usage), payments
    20 (minus 10 per failed payment in the last 30 days), disputes and refunds 20 (minus 15 per
    open dispute, 5 per open refund), delivery 15 (minus 5 per delivery problem in the last 30
    days: failed, returned, lost, exception, delayed), consent 15 (minus 5 per channel opted
    out). A part whose app gives no data counts as its maximum, except activity (no usage seen
    is no activity). Band: good from 70, at risk below 40, watch between."""
    problems = _recent_problems(customer)
    usage = summary.get("usage") or {}
    active_30 = int(usage.get("active_days_30") or 0)
    payments = summary.get("payments") or {}
    open_disputes = int((payments.get("open_disputes") or {}).get("count") or 0)
    open_refunds = int((payments.get("open_refunds") or {}).get("count") or 0)
    consent = summary.get("consent") or {}
    opted_out = sorted(ch for ch, c in consent.items() if (c or {}).get("state") == "opted_out")
    failures, delivery = problems["payment_failures"], problems["delivery_problems"]
    parts = [
        _part(
            "activity",
            "Recent activity",
            3 * active_30,
            30,
            f"{active_30} active day(s) in the last 30"
            if usage.get("last_seen_at")
            else "No product usage seen",
        ),
        _part(
            "payments",
            "Payments",
            20 - 10 * failures,
            20,
            f"{failures} failed payment(s) in the last 30 days",
        ),
        _part(
            "disputes_refunds",
            "Disputes and refunds",
            20 - 15 * open_disputes - 5 * open_refunds,
            20,
            f"{open_disputes} open dispute(s), {open_refunds} open refund(s)",
        ),
        _part(
            "delivery",
            "Delivery",
            15 - 5 * delivery,
            15,
            f"{delivery} delivery problem(s) in the last 30 days",
        ),
        _part(
            "consent",
            "Consent",
            15 - 5 * len(opted_out),
            15,
            "Opted out of " + ", ".join(opted_out) if opted_out else "No channel opted out",
        ),
    ]
    score = sum(p["points"] for p in parts)
    band = "good" if score >= GOOD_FROM else "at_risk" if score < AT_RISK_BELOW else "watch"
    return {"score": score, "band": band, "window_days": WINDOW_DAYS, "parts": parts}
