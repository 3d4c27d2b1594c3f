"""What the project's management commands share: reading a ``--since``/``--until`` option as an
aware datetime, and a one-line progress bar drawn in place."""

from __future__ import annotations

import time
from datetime import datetime

from django.core.management.base import CommandError, OutputWrapper
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware


def aware_datetime_option(value: str, option: str) -> datetime:
    """``value`` (ISO 8601 date or date-time; naive means the default time zone, UTC) as an
    aware datetime, or a CommandError naming ``option``."""
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        parsed = datetime(day.year, day.month, day.day) if day else None
    if parsed is None:
        raise CommandError(f"{option} must be an ISO 8601 date or date-time, e.g. 2026-01-01.")
    return make_aware(parsed) if is_naive(parsed) else parsed


class ProgressBar:
    """``warehouse [##########....] 52% 1,040/2,000 3.1 s`` on one line, redrawn in place."""

    def __init__(self, label: str, total: int, stream: OutputWrapper) -> None:
        self.label, self.total, self.stream = label, max(total, 1), stream
        self.started = time.monotonic()
        self.update(0)

    def update(self, done: int, end: str = "") -> None:
        share = min(done / self.total, 1.0)
        self.stream.write(
            f"\r{self.label:<10} [{'#' * int(share * 30):<30}] {share:4.0%} "
            f"{done:,}/{self.total:,} {time.monotonic() - self.started:6.1f} s{end}",
            ending="",
        )
        self.stream.flush()
