"""Promised delivery dates: a quote's business days turned into a calendar date.

The rule (docs/shipping.md): counting starts the day after the shipment is created, in
``SHIPPING_TIME_ZONE``; each Monday to Friday that is not in ``SHIPPING_HOLIDAYS`` is one
business day; Saturdays, Sundays and the listed holidays are skipped. Zero days promise the day
of creation itself. The promise holds until that day ends: the shipment is late from the next
day on (``local_today`` past the date).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

SATURDAY = 5


@cache
def _holidays(listed: tuple[str, ...]) -> frozenset[date]:
    days = set()
    for text in listed:
        try:
            days.add(date.fromisoformat(text.strip()))
        except ValueError:
            raise ImproperlyConfigured(
                f"SHIPPING_HOLIDAYS: {text!r} is not an ISO date (YYYY-MM-DD)."
            ) from None
    return frozenset(days)


def holidays() -> frozenset[date]:
    return _holidays(tuple(settings.SHIPPING_HOLIDAYS))


def local_today(now: datetime | None = None) -> date:
    """Today's date in the shipping calendar's time zone."""
    moment = now or timezone.now()
    return timezone.localtime(moment, ZoneInfo(settings.SHIPPING_TIME_ZONE)).date()


def is_business_day(day: date) -> bool:
    return day.weekday() < SATURDAY and day not in holidays()


def promised_delivery_date(*, start: datetime, business_days: int) -> date:
    """The date ``business_days`` business days after ``start``'s local date (see the module);
    a negative count is taken as zero."""
    day = local_today(start)
    remaining = max(0, business_days)
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return day
