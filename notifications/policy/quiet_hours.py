"""Quiet hours: a span of local wall-clock time (21:00-08:00) in the customer's time zone during
which messages that can wait are held back. Pure functions of a UTC instant; the local end is
turned back into UTC with zoneinfo, so a night across a DST change ends at the right instant."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

_SPAN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_quiet_hours(value: str) -> QuietHours | None:
    """``"HH:MM-HH:MM"`` (24-hour, ASCII digits) as QuietHours; blank is None. Raises
    ImproperlyConfigured for anything else, naming the setting."""
    value = value.strip()
    if not value:
        return None
    match = _SPAN.fullmatch(value)
    if match is None:
        raise ImproperlyConfigured(
            f"NOTIFICATION_QUIET_HOURS must be HH:MM-HH:MM (e.g. 21:00-08:00), not {value!r}."
        )
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    return QuietHours(start=time(h1, m1), end=time(h2, m2))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of ``name``; UTC for a name zoneinfo does not know (the model validates
    names, so only a zone database older than the row gets here)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _is_quiet(local: time, quiet: QuietHours) -> bool:
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def quiet_until(*, now: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime | None:
    """When the quiet hours around ``now`` (aware) end, in UTC; None when ``now`` is not in
    quiet hours. The end is the next ``quiet.end`` on the local calendar: 08:00 the next day for
    a night that began at 21:00, whatever the UTC offset did in between (a wall time skipped by
    a spring-forward gap resolves to the instant just after the gap)."""
    if quiet is None:
        return None
    local = now.astimezone(tz)
    if not _is_quiet(local.time().replace(tzinfo=None), quiet):
        return None
    day = local.date()
    if local.time().replace(tzinfo=None) >= quiet.end:
        day += timedelta(days=1)
    end = datetime.combine(day, quiet.end, tzinfo=tz)
    return end.astimezone(UTC)
