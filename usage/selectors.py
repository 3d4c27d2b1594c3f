"""Reads of product usage: a customer's aggregates for the customer page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from usage.models import CustomerFeatureUsage, CustomerUsage, CustomerUsageDay

FEATURES_SHOWN = 10


@dataclass(frozen=True)
class FeatureUse:
    feature: str
    uses: int
    last_used_at: datetime


@dataclass(frozen=True)
class UsageSummary:
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    events: int
    active_days_7: int
    active_days_30: int
    features: list[FeatureUse]


def active_window(days: int, *, today: date) -> tuple[date, date]:
    """The UTC days counted as "the last ``days`` days": today and the ``days - 1`` before."""
    return today - timedelta(days=days - 1), today


def customer_usage_summary(*, customer_id: int, today: date | None = None) -> UsageSummary:
    """First and last seen, events, active days in the last 7 and 30 UTC days (distinct UTC
    days, today included, with at least one event) and the most used features. Three queries,
    each bounded by the customer's index."""
    today = today or timezone.now().astimezone(UTC).date()
    summary = CustomerUsage.objects.filter(customer_id=customer_id).first()
    start_7, _ = active_window(7, today=today)
    start_30, _ = active_window(30, today=today)
    active = CustomerUsageDay.objects.filter(
        customer_id=customer_id, day__gte=start_30, day__lte=today
    ).aggregate(d30=Count("id"), d7=Count("id", filter=Q(day__gte=start_7)))
    features = [
        FeatureUse(feature=f.feature, uses=f.uses, last_used_at=f.last_used_at)
        for f in CustomerFeatureUsage.objects.filter(customer_id=customer_id).order_by(
            "-uses", "feature"
        )[:FEATURES_SHOWN]
    ]
    return UsageSummary(
        first_seen_at=summary.first_seen_at if summary else None,
        last_seen_at=summary.last_seen_at if summary else None,
        events=summary.events if summary else 0,
        active_days_7=active["d7"],
        active_days_30=active["d30"],
        features=features,
    )
