from __future__ import annotations

from integrations.exceptions import SwitchboardError


class TrackingCodeMismatch(SwitchboardError):
    """A carrier fact names one of our shipments but another tracking code: flagged, never
    applied (a forged or misrouted event, or a label we did not record)."""
