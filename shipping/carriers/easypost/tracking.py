"""EasyPost's tracker statuses (and the ``status_detail`` that refines some), mapped to ours.

Statuses from CONTRACTS §4 (docs.easypost.com/docs/trackers). A status not in the table is kept
as ``unknown`` and flagged for ops, never dropped; so are EasyPost's own ``unknown`` (the carrier
told EasyPost nothing readable) and ``error`` (EasyPost cannot track the code)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shipping.models import ShipmentStatus as S
from shipping.models import TrackingStatus as T

# status -> (normalised status, where the shipment goes; None = it stays)
EP_STATUSES: dict[str, tuple[T, S | None]] = {
    "pre_transit": (T.PRE_TRANSIT, None),
    "in_transit": (T.IN_TRANSIT, S.IN_TRANSIT),
    "out_for_delivery": (T.OUT_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
    "delivered": (T.DELIVERED, S.DELIVERED),
    "available_for_pickup": (T.AVAILABLE_FOR_PICKUP, S.AVAILABLE_FOR_PICKUP),
    "return_to_sender": (T.RETURN_TO_SENDER, S.RETURNED),
    "failure": (T.FAILURE, S.DELIVERY_FAILED),
    "cancelled": (T.CANCELLED, None),
    "error": (T.UNKNOWN, None),
    "unknown": (T.UNKNOWN, None),
}
# (status, status_detail) pairs that say more than the status alone.
EP_DETAILS: dict[tuple[str, str], tuple[T, S | None]] = {
    ("in_transit", "delayed"): (T.DELAYED, None),
    ("in_transit", "weather_delay"): (T.DELAYED, None),
    ("in_transit", "return"): (T.RETURN_TO_SENDER, S.RETURNED),
    ("in_transit", "lost"): (T.LOST, S.LOST),
    ("failure", "lost"): (T.LOST, S.LOST),
    ("unknown", "lost"): (T.LOST, S.LOST),
}


def ep_status(status: str, status_detail: str = "") -> tuple[T, S | None]:
    """The normalised status of an EasyPost ``status`` (refined by ``status_detail``) and where
    it moves the shipment; ``(unknown, None)`` for a code the table does not know."""
    found = EP_DETAILS.get((status, status_detail))
    return found or EP_STATUSES.get(status, (T.UNKNOWN, None))


def carrier_code(status: str, status_detail: str = "") -> str:
    """What a tracking event keeps as the carrier's code: ``in_transit/arrived_at_facility``."""
    code = f"{status}/{status_detail}" if status_detail else status
    return code[:60]


def parse_ep_time(value: Any) -> datetime | None:
    """EasyPost's ISO 8601 UTC times (``2024-08-02T19:26:51Z``, ``...:52.000Z``) -> aware UTC;
    None when missing or unreadable (never raises on what a sender wrote)."""
    if not isinstance(value, str) or not 10 <= len(value) <= 40 or not value.isascii():
        return None
    if not value[:4].isdigit():
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def location_text(location: Any) -> str:
    """``ORLANDO, FL, US 32809`` from a TrackingLocation (blank parts left out)."""
    if not isinstance(location, dict):
        return ""
    parts = [str(location.get(k) or "").strip() for k in ("city", "state", "country")]
    text = ", ".join(p for p in parts if p)
    zip_code = str(location.get("zip") or "").strip()
    return f"{text} {zip_code}".strip()[:200]
