"""Delay and exception alerts for shipments (shipping/alerts.py, docs/shipping.md)."""

from __future__ import annotations

from config.settings.env import env

# A shipment under way with no scan for this many days is flagged for ops (and the customer told).
SHIPPING_STALE_SCAN_DAYS = env.int("SHIPPING_STALE_SCAN_DAYS", default=5)
# The hourly scan looks back this far past each threshold (no scan, promised date, exception
# status): a shipment that crossed one longer ago than this while the scan was not running is
# not flagged any more. Bounds what one run reads.
SHIPPING_ALERTS_LOOKBACK_DAYS = env.int("SHIPPING_ALERTS_LOOKBACK_DAYS", default=30)
# Shipments read per query and flagged per run at most; the rest wait for the next run.
SHIPPING_ALERTS_BATCH_SIZE = env.int("SHIPPING_ALERTS_BATCH_SIZE", default=200)
SHIPPING_ALERTS_MAX_PER_RUN = env.int("SHIPPING_ALERTS_MAX_PER_RUN", default=2000)
# The calendar promised delivery dates are counted in: quotes promise business days, Monday to
# Friday in this time zone, skipping the listed holidays (ISO dates, comma-separated).
SHIPPING_TIME_ZONE = env.str("SHIPPING_TIME_ZONE", default="America/Sao_Paulo")
SHIPPING_HOLIDAYS: list[str] = env.list("SHIPPING_HOLIDAYS", default=[])
