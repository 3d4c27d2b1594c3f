"""Outbound provider calls: timeouts, retries and circuit breakers (integrations/outbound/)."""

from config.settings.env import env

OUTBOUND_CONNECT_TIMEOUT_SECONDS = env.float("OUTBOUND_CONNECT_TIMEOUT_SECONDS", default=5.0)
OUTBOUND_READ_TIMEOUT_SECONDS = env.float("OUTBOUND_READ_TIMEOUT_SECONDS", default=5.0)
# Attempts per call, the first included; retries only on connection errors, timeouts, 429, 5xx.
OUTBOUND_MAX_ATTEMPTS = env.int("OUTBOUND_MAX_ATTEMPTS", default=3)
# Full-jitter backoff: the wait after attempt n is uniform in [0, min(MAX, BASE * 2 ** (n - 1))].
OUTBOUND_BACKOFF_BASE_SECONDS = env.float("OUTBOUND_BACKOFF_BASE_SECONDS", default=0.5)
# Also the longest Retry-After waited in-process; a longer one ends the call (the task waits).
OUTBOUND_BACKOFF_MAX_SECONDS = env.float("OUTBOUND_BACKOFF_MAX_SECONDS", default=8.0)
# A breaker opens when its window holds at least MIN_CALLS attempts and failures / attempts
# reaches FAILURE_RATIO; it lets one trial call through COOLDOWN seconds after opening.
CIRCUIT_BREAKER_FAILURE_RATIO = env.float("CIRCUIT_BREAKER_FAILURE_RATIO", default=0.5)
CIRCUIT_BREAKER_MIN_CALLS = env.int("CIRCUIT_BREAKER_MIN_CALLS", default=10)
CIRCUIT_BREAKER_WINDOW_SECONDS = env.int("CIRCUIT_BREAKER_WINDOW_SECONDS", default=60)
CIRCUIT_BREAKER_COOLDOWN_SECONDS = env.int("CIRCUIT_BREAKER_COOLDOWN_SECONDS", default=30)
