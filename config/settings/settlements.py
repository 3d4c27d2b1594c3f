"""Settlement matching (issue 15 item 3): when an unmatched line or payment, or a line that no
payout took, becomes a reconciliation exception."""

from __future__ import annotations

from config.settings.env import env

SETTLEMENT_UNMATCHED_AFTER_DAYS = env.int("SETTLEMENT_UNMATCHED_AFTER_DAYS", default=3)
SETTLEMENT_PAYOUT_LATE_DAYS = env.int("SETTLEMENT_PAYOUT_LATE_DAYS", default=5)
