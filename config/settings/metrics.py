"""The Prometheus endpoint /metrics and the admin's ops page (integrations/metrics.py,
docs/metrics.md)."""

from __future__ import annotations

from config.settings.env import env

# The scraper's bearer token. Empty: /metrics answers 404 (the endpoint is off).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Networks a scrape may come from (CIDR). Empty: any address, the token alone decides. With
# entries, a request from elsewhere is refused 403 even with the right token.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
# Provider calls are read from the ledger over this window (seconds): a bounded read at scrape
# time, never a scan of the whole table.
METRICS_PROVIDER_CALL_WINDOW_SECONDS = env.int("METRICS_PROVIDER_CALL_WINDOW_SECONDS", default=300)
