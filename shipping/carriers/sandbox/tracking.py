"""The sandbox carrier's tracking codes and the normalised status each maps to.

Its codes are our shipment statuses plus the few that move nothing (``pre_transit``,
``delayed``, ``cancelled``); a code not in the table is kept as ``unknown`` and flagged."""

from __future__ import annotations

from shipping.models import ShipmentStatus as S
from shipping.models import TrackingStatus as T

# carrier code -> (normalised status, where the shipment goes; None = it stays)
SANDBOX_CODES: dict[str, tuple[T, S | None]] = {
    "pre_transit": (T.PRE_TRANSIT, None),
    "posted": (T.IN_TRANSIT, S.POSTED),
    "in_transit": (T.IN_TRANSIT, S.IN_TRANSIT),
    "out_for_delivery": (T.OUT_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
    "delivered": (T.DELIVERED, S.DELIVERED),
    "available_for_pickup": (T.AVAILABLE_FOR_PICKUP, S.AVAILABLE_FOR_PICKUP),
    "delivery_failed": (T.FAILURE, S.DELIVERY_FAILED),
    "returned": (T.RETURN_TO_SENDER, S.RETURNED),
    "delayed": (T.DELAYED, None),
    "cancelled": (T.CANCELLED, None),
    "lost": (T.LOST, S.LOST),
}


def sandbox_status(code: str) -> tuple[T, S | None]:
    """The normalised status and shipment status for a sandbox code; unknown codes are
    ``(unknown, None)``: kept and flagged, never dropped."""
    return SANDBOX_CODES.get(code, (T.UNKNOWN, None))
