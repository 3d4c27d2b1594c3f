"""The admin's finance dashboard (issue 15 item 7): payment volume, refunds, disputes and the
failure rate by day and provider over the last 30 days, and the reconciliation status (open
exceptions by kind and age, settlement lines and how many belong to a payout or are matched,
succeeded payments matched), as server-drawn
SVG charts (integrations/charts.py) each beside a table of its numbers.

Every figure is one aggregate query (GROUP BY day and provider with TruncDate): the page runs the
same number of queries whatever the rows. Reached from the reconciliation exceptions' list; needs
``payments.view_finance_dashboard`` (the finance role, and admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from integrations.charts import bar_chart
from integrations.money import format_money, minor_unit_exponent
from payments.models import (
    Dispute,
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.settlements.models import SettlementLine

FINANCE_DASHBOARD_PERMISSION = "payments.view_finance_dashboard"
DAYS = 30
# Age bands of open exceptions: (label, older than days, at most days); None is unbounded.
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 day", 0, 1),
    ("1-7 days", 1, 7),
    ("7-30 days", 7, 30),
    ("> 30 days", 30, None),
)


@dataclass(frozen=True)
class Panel:
    """One figure: its chart and the rows of the table beside it."""

    key: str
    title: str
    chart: SafeString
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _major(amount: int, currency: str) -> float:
    """For the chart's bar length only; the table shows the exact figure via format_money."""
    return amount / 10 ** minor_unit_exponent(currency)


def _day(value: date | datetime | None) -> str:
    return value.isoformat() if value else ""


def volume_by_day(since: datetime) -> list[dict[str, Any]]:
    """Succeeded payments: count and amount by day succeeded, provider and currency."""
    return list(
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, succeeded_at__gte=since)
        .annotate(day=TruncDate("succeeded_at"))
        .values("day", "provider", "currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("day", "provider", "currency")
    )


def refunds_by_day(since: datetime) -> list[dict[str, Any]]:
    """Completed (succeeded) refunds: count and amount by day completed, provider and currency."""
    return list(
        Refund.objects.filter(status=RefundStatus.SUCCEEDED, completed_at__gte=since)
        .annotate(day=TruncDate("completed_at"), provider=F("payment__provider"))
        .values("day", "provider", "currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("day", "provider", "currency")
    )


def disputes_by_day(since: datetime) -> list[dict[str, Any]]:
    """Disputes opened: count and amount by day opened and provider."""
    return list(
        Dispute.objects.filter(opened_at__gte=since)
        .annotate(day=TruncDate("opened_at"))
        .values("day", "provider")
        .annotate(count=Count("id"))
        .order_by("day", "provider")
    )


def failures_by_day(since: datetime) -> list[dict[str, Any]]:
    """Payments created that ended failed or succeeded, by day created and provider."""
    return list(
        Payment.objects.filter(
            created_at__gte=since, status__in=[PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
        )
        .annotate(day=TruncDate("created_at"))
        .values("day", "provider")
        .annotate(
            failed=Count("id", filter=Q(status=PaymentStatus.FAILED)),
            succeeded=Count("id", filter=Q(status=PaymentStatus.SUCCEEDED)),
        )
        .order_by("day", "provider")
    )


def open_exceptions_by_kind(now: datetime) -> list[dict[str, Any]]:
    """Open reconciliation exceptions by kind, with a count per age band (one query)."""
    bands: dict[str, Any] = {}
    for index, (_label, above, at_most) in enumerate(AGE_BANDS):
        condition = Q(created_at__lte=now - timedelta(days=above)) if above else Q()
        if at_most is not None:
            condition &= Q(created_at__gt=now - timedelta(days=at_most))
        bands[f"band{index}"] = Count("id", filter=condition)
    return list(
        ReconciliationException.objects.filter(status=ReconciliationException.Status.OPEN)
        .values("kind")
        .annotate(total=Count("id"), **bands)
        .order_by("kind")
    )


def settlement_lines_by_provider() -> list[dict[str, Any]]:
    """Settlement lines imported by provider, how many belong to a payout and how many are
    matched (payments/settlements/engine.py, or by hand)."""
    return list(
        SettlementLine.objects.values("provider")
        .annotate(
            lines=Count("id"),
            in_payout=Count("id", filter=~Q(payout_id="")),
            matched=Count("match_item"),
        )
        .order_by("provider")
    )


def payments_matched_by_provider() -> list[dict[str, Any]]:
    """Succeeded payments of the providers that report settlement lines, and how many are in a
    match (a line accounts for them)."""
    reporting = SettlementLine.objects.values("provider").distinct()
    return list(
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, provider__in=reporting)
        .values("provider")
        .annotate(settled=Count("id"), matched=Count("match_item"))
        .order_by("provider")
    )


def _rate(failed: int, succeeded: int) -> float:
    attempts = failed + succeeded
    return round(100 * failed / attempts, 1) if attempts else 0.0


def _share(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


def finance_panels(now: datetime) -> list[Panel]:
    """Every panel of the page, in the order shown."""
    since = now - timedelta(days=DAYS)
    volume = volume_by_day(since)
    refunds = refunds_by_day(since)
    disputes = disputes_by_day(since)
    failures = failures_by_day(since)
    exceptions = open_exceptions_by_kind(now)
    lines = settlement_lines_by_provider()
    paid = payments_matched_by_provider()
    kinds = dict(ReconciliationException.Kind.choices)
    band_totals = [
        (label, sum(row[f"band{index}"] for row in exceptions))
        for index, (label, _above, _at_most) in enumerate(AGE_BANDS)
    ]

    def money_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            (
                _day(r["day"]),
                r["provider"],
                r["currency"],
                r["count"],
                format_money(r["amount"], r["currency"]),
            )
            for r in rows
        ]

    def money_series(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [
            (
                f"{_day(r['day'])} {r['provider']} {r['currency']}",
                _major(r["amount"], r["currency"]),
            )
            for r in rows
        ]

    return [
        Panel(
            "volume",
            f"Payment volume by day and provider (last {DAYS} days, succeeded)",
            bar_chart(money_series(volume), title="Succeeded payment volume by day and provider"),
            ("Day", "Provider", "Currency", "Payments", "Amount"),
            money_rows(volume),
        ),
        Panel(
            "refunds",
            f"Refunds by day and provider (last {DAYS} days, completed)",
            bar_chart(money_series(refunds), title="Completed refunds by day and provider"),
            ("Day", "Provider", "Currency", "Refunds", "Amount"),
            money_rows(refunds),
        ),
        Panel(
            "disputes",
            f"Disputes opened by day and provider (last {DAYS} days)",
            bar_chart(
                [(f"{_day(r['day'])} {r['provider']}", r["count"]) for r in disputes],
                title="Disputes opened by day and provider",
            ),
            ("Day", "Provider", "Disputes opened"),
            [(_day(r["day"]), r["provider"], r["count"]) for r in disputes],
        ),
        Panel(
            "failure-rate",
            f"Failure rate by day and provider (last {DAYS} days, failed / (failed + succeeded))",
            bar_chart(
                [
                    (f"{_day(r['day'])} {r['provider']}", _rate(r["failed"], r["succeeded"]))
                    for r in failures
                ],
                title="Payment failure rate by day and provider",
                unit="%",
            ),
            ("Day", "Provider", "Failed", "Succeeded", "Failure rate %"),
            [
                (
                    _day(r["day"]),
                    r["provider"],
                    r["failed"],
                    r["succeeded"],
                    _rate(r["failed"], r["succeeded"]),
                )
                for r in failures
            ],
        ),
        Panel(
            "exceptions-kind",
            "Open reconciliation exceptions by kind and age",
            bar_chart(
                [(kinds.get(r["kind"], r["kind"]), r["total"]) for r in exceptions],
                title="Open reconciliation exceptions by kind",
            ),
            ("Kind", *(label for label, _a, _b in AGE_BANDS), "Open"),
            [
                (
                    kinds.get(r["kind"], r["kind"]),
                    *(r[f"band{index}"] for index in range(len(AGE_BANDS))),
                    r["total"],
                )
                for r in exceptions
            ],
        ),
        Panel(
            "exceptions-age",
            "Open reconciliation exceptions by age",
            bar_chart(band_totals, title="Open reconciliation exceptions by age"),
            ("Age", "Open"),
            band_totals,
        ),
        Panel(
            "settlement-lines",
            "Settlement lines imported, and in a payout",
            bar_chart(
                [(r["provider"], r["lines"]) for r in lines],
                title="Settlement lines imported by provider",
            ),
            ("Provider", "Lines", "In a payout", "Not in a payout", "Matched", "Match rate %"),
            [
                (
                    r["provider"],
                    r["lines"],
                    r["in_payout"],
                    r["lines"] - r["in_payout"],
                    r["matched"],
                    _share(r["matched"], r["lines"]),
                )
                for r in lines
            ],
        ),
        Panel(
            "payments-matched",
            "Succeeded payments matched to settlement lines",
            bar_chart(
                [(r["provider"], _share(r["matched"], r["settled"])) for r in paid],
                title="Succeeded payments matched, by provider",
                unit="%",
            ),
            ("Provider", "Succeeded", "Matched", "Unmatched", "Match rate %"),
            [
                (
                    r["provider"],
                    r["settled"],
                    r["matched"],
                    r["settled"] - r["matched"],
                    _share(r["matched"], r["settled"]),
                )
                for r in paid
            ],
        ),
    ]


def finance_dashboard_view(request: HttpRequest, admin_context: dict[str, Any]) -> HttpResponse:
    """GET only (nothing on the page changes anything). 403 without the dashboard permission."""
    if not request.user.has_perm(FINANCE_DASHBOARD_PERMISSION):
        raise PermissionDenied
    now = timezone.now()
    context = {
        **admin_context,
        "title": "Finance dashboard",
        "at": now,
        "days": DAYS,
        "panels": finance_panels(now),
    }
    return TemplateResponse(request, "admin/payments/finance_dashboard.html", context)
