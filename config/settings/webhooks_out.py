"""Outbound webhooks to the business's own systems (integrations/webhooks_out/,
docs/outbound-webhooks.md). Endpoint secrets are stored encrypted with ``CREDENTIALS_KEYS``."""

from config.settings.env import env

WEBHOOKS_OUT_ALLOWED_NETWORKS: list[str] = env.list("WEBHOOKS_OUT_ALLOWED_NETWORKS", default=[])
"""Networks the SSRF guard lets through although they are private (tests and the benchmark set
``127.0.0.1/32`` for their local receiver); empty in production."""
WEBHOOKS_OUT_HOSTS: dict[str, list[str]] = {}
"""Host names answered without DNS, like a hosts file (tests and the benchmark only)."""
WEBHOOKS_OUT_ALLOW_HTTP = env.bool("WEBHOOKS_OUT_ALLOW_HTTP", default=False)
"""Whether endpoints may be plain http:// (https only by default)."""
WEBHOOKS_OUT_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOKS_OUT_CONNECT_TIMEOUT_SECONDS", default=5)
WEBHOOKS_OUT_READ_TIMEOUT_SECONDS = env.float("WEBHOOKS_OUT_READ_TIMEOUT_SECONDS", default=15)
WEBHOOKS_OUT_CONCURRENCY = env.int("WEBHOOKS_OUT_CONCURRENCY", default=16)
"""Messages one drain sends at once (threads waiting on the network)."""
WEBHOOKS_OUT_BATCH = env.int("WEBHOOKS_OUT_BATCH", default=64)
"""Messages claimed per statement by a drain."""
WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS = env.int("WEBHOOKS_OUT_CLAIM_TIMEOUT_SECONDS", default=60)
"""A message claimed longer ago than this was left by a dead worker and is sent again."""
WEBHOOKS_OUT_DRAIN_MAX_SECONDS = env.float("WEBHOOKS_OUT_DRAIN_MAX_SECONDS", default=40)
WEBHOOKS_OUT_DRAIN_LINGER_SECONDS = env.float("WEBHOOKS_OUT_DRAIN_LINGER_SECONDS", default=10)
"""A drain keeps going while a message is due within this many seconds (the 5 s retry)."""
WEBHOOKS_OUT_DISABLE_AFTER_SECONDS = env.int(
    "WEBHOOKS_OUT_DISABLE_AFTER_SECONDS", default=5 * 24 * 3600
)
"""An endpoint with no success since its first failure this long ago is disabled."""
WEBHOOKS_OUT_ROTATION_GRACE_SECONDS = env.int(
    "WEBHOOKS_OUT_ROTATION_GRACE_SECONDS", default=24 * 3600
)
"""After a secret rotation the previous secret keeps signing alongside the new one this long."""
WEBHOOKS_OUT_RESPONSE_EXCERPT_CHARS = 500
# How long a process trusts its cached list of subscribed event types before reading it again
# (events nobody subscribes to write no delivery). A subscription made in another process takes
# effect within this time; in the process that saved the endpoint, at once.
WEBHOOKS_OUT_SUBSCRIPTIONS_TTL_SECONDS = env.float(
    "WEBHOOKS_OUT_SUBSCRIPTIONS_TTL_SECONDS", default=1.0
)
