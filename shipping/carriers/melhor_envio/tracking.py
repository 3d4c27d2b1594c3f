"""Melhor Envio's order statuses and ``order.*`` webhook events, mapped to ours.

Statuses from CONTRACTS §3 (the official WooCommerce plugin and webhook events). A status not
in the table is kept as ``unknown`` and flagged for ops, never dropped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shipping.models import ShipmentStatus as S
from shipping.models import TrackingStatus as T

# Melhor Envio writes local times without an offset ("2024-01-02 10:00:00"): Brasília time.
ME_TZ = ZoneInfo("America/Sao_Paulo")

# status -> (normalised status, where the shipment goes; None = it stays)
ME_STATUSES: dict[str, tuple[T, S | None]] = {
    "created": (T.PRE_TRANSIT, None),
    "pending": (T.PRE_TRANSIT, None),
    "released": (T.PRE_TRANSIT, None),
    "paid": (T.PRE_TRANSIT, None),
    "generated": (T.PRE_TRANSIT, None),
    "received": (T.IN_TRANSIT, S.POSTED),  # dropped at a Melhor Envio agency
    "posted": (T.IN_TRANSIT, S.POSTED),
    "delivered": (T.DELIVERED, S.DELIVERED),
    "undelivered": (T.FAILURE, S.DELIVERY_FAILED),
    "paused": (T.DELAYED, None),
    "suspended": (T.FAILURE, None),  # held by Melhor Envio; the parcel has not failed yet
    "canceled": (T.CANCELLED, None),
    "cancelled": (T.CANCELLED, None),
    "expired": (T.CANCELLED, None),
}
# The time field that says when each status happened.
STATUS_TIME_FIELD = {
    "created": "created_at",
    "pending": "created_at",
    "released": "paid_at",
    "paid": "paid_at",
    "generated": "generated_at",
    "received": "posted_at",
    "posted": "posted_at",
    "delivered": "delivered_at",
    "canceled": "canceled_at",
    "cancelled": "canceled_at",
    "expired": "expired_at",
}


def me_status(code: str) -> tuple[T, S | None]:
    return ME_STATUSES.get(code, (T.UNKNOWN, None))


def parse_me_time(value: Any) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (Brasília) or ISO with offset -> aware UTC; None if unreadable."""
    if not isinstance(value, str) or not 10 <= len(value.strip()) <= 40:
        return None
    text = value.strip()
    if not text[:4].isascii() or not text[:4].isdigit():
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ME_TZ)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def status_time(order: dict[str, Any], status: str) -> datetime | None:
    field = STATUS_TIME_FIELD.get(status)
    when = parse_me_time(order.get(field)) if field else None
    return when or parse_me_time(order.get("updated_at"))
