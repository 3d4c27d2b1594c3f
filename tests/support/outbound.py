"""Shared by the tests that call a local fake provider through the outbound client."""

from __future__ import annotations

from typing import Any

FAST_OUTBOUND = {
    "OUTBOUND_CONNECT_TIMEOUT_SECONDS": 1.0,
    "OUTBOUND_READ_TIMEOUT_SECONDS": 1.0,
    "OUTBOUND_MAX_ATTEMPTS": 3,
    "OUTBOUND_BACKOFF_BASE_SECONDS": 0.01,
    "OUTBOUND_BACKOFF_MAX_SECONDS": 5.0,
}


def fast_outbound(settings: Any, **overrides: Any) -> Any:
    """Short timeouts and backoff so retries take milliseconds; ``overrides`` win."""
    for name, value in {**FAST_OUTBOUND, **overrides}.items():
        setattr(settings, name, value)
    return settings


class Sleeps(list[float]):
    """Records the waits between attempts instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
