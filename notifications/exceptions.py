from __future__ import annotations

from integrations.exceptions import SwitchboardError


class MessageIdMismatch(SwitchboardError):
    """A provider status names one of our notifications but another message id: flagged, never
    applied."""
