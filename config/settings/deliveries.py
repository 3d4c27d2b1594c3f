"""Domain-event deliveries to subscribers."""

from config.settings.env import env

# Attempts before a delivery is dead, unless its subscriber sets its own max_attempts.
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=8)
# Backoff after failed attempt n: min(MAX, BASE * 2**(n-1)) seconds, times a 0.8-1.2 jitter.
DELIVERY_RETRY_BASE_SECONDS = env.float("DELIVERY_RETRY_BASE_SECONDS", default=5.0)
DELIVERY_RETRY_MAX_SECONDS = env.float("DELIVERY_RETRY_MAX_SECONDS", default=3600.0)
# A running delivery whose worker died is taken back after this long. Keep it above the task
# cluster's timeout (Q_TIMEOUT), or a slow attempt that is still running could be taken twice.
DELIVERY_CLAIM_TIMEOUT_SECONDS = env.int("DELIVERY_CLAIM_TIMEOUT_SECONDS", default=300)
# The sweeper re-sends a pending delivery only once it has waited this long, since a fresh one
# normally already has its task queued.
DELIVERY_SWEEP_PENDING_AFTER_SECONDS = env.int("DELIVERY_SWEEP_PENDING_AFTER_SECONDS", default=60)
# Most deliveries one sweep hands back to the cluster.
DELIVERY_SWEEP_BATCH = env.int("DELIVERY_SWEEP_BATCH", default=500)
