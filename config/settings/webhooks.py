"""Webhook inbox settings."""

from config.settings.env import env

WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
WEBHOOK_RETRY_MAX_SECONDS = env.float("WEBHOOK_RETRY_MAX_SECONDS", default=3600.0)
# A claimed event whose worker died is taken back after this long.
WEBHOOK_CLAIM_TIMEOUT_SECONDS = env.int("WEBHOOK_CLAIM_TIMEOUT_SECONDS", default=300)
# Processed bodies are kept at least this long (Stripe retries for 3 days).
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=7)
# Rejected deliveries (bad or stale signatures) are kept this long for investigation.
WEBHOOK_REJECTION_RETENTION_DAYS = env.int("WEBHOOK_REJECTION_RETENTION_DAYS", default=30)
# The once-a-minute sweeper processes at most this many due events, and stops starting new ones
# after this many seconds (it must end well within the task cluster's timeout).
WEBHOOK_SWEEP_BATCH = env.int("WEBHOOK_SWEEP_BATCH", default=500)
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=40.0)
# A fact that arrives before its object is recorded is retried within half a second at first,
# then less often (a quarter of the time it has waited), at most this far apart...
WEBHOOK_NOT_READY_MAX_SECONDS = env.float("WEBHOOK_NOT_READY_MAX_SECONDS", default=60.0)
# ...and without using up WEBHOOK_MAX_ATTEMPTS, until it has waited this long. Its object may be
# recorded only after a crashed provider call is recovered (DELIVERY_CLAIM_TIMEOUT_SECONDS, then
# the retry), so keep this well above that.
WEBHOOK_NOT_READY_GIVE_UP_SECONDS = env.int("WEBHOOK_NOT_READY_GIVE_UP_SECONDS", default=6 * 3600)
# Storing an event wakes a drain task (if a drain place is free), at most once per window per
# process; a drain keeps polling for the linger time after its queue empties, and when it ends it
# waits one window and wakes a successor if work is due (so nothing is missed).
WEBHOOK_WAKE_WINDOW_SECONDS = env.float("WEBHOOK_WAKE_WINDOW_SECONDS", default=0.2)
WEBHOOK_DRAIN_LINGER_SECONDS = env.float("WEBHOOK_DRAIN_LINGER_SECONDS", default=2.0)
# Embedded profile: a web process checkpoints SQLite's write-ahead log after answering, once per
# this many events stored by all web processes together (counted in the inbox's gate file),
# instead of SQLite doing it inside a commit (integrations/webhooks/inbox.py, "the WAL checkpoint").
WEBHOOK_SQLITE_CHECKPOINT_EVERY = env.int("WEBHOOK_SQLITE_CHECKPOINT_EVERY", default=200)
# Embedded profile: the receiver stores a delivery as an arrival (its dedupe key the only index)
# and the drain moves it into the inbox, which keeps the inbox's five other indexes off the
# answer's path (integrations/models/webhooks.py, WebhookArrival). False writes the inbox row
# while answering, as PostgreSQL always does.
WEBHOOK_ARRIVALS = env.bool("WEBHOOK_ARRIVALS", default=True)
WEBHOOK_DRAIN_MAX_SECONDS = env.float("WEBHOOK_DRAIN_MAX_SECONDS", default=45.0)
# Refused deliveries (bad or stale signatures) are counted per provider and hour; only a sample is
# kept as rows: at most this many per provider and hour, and this many per source address...
WEBHOOK_REJECTION_SAMPLES_PER_HOUR = env.int("WEBHOOK_REJECTION_SAMPLES_PER_HOUR", default=20)
WEBHOOK_REJECTION_SAMPLES_PER_SOURCE = env.int("WEBHOOK_REJECTION_SAMPLES_PER_SOURCE", default=3)
# ...with at most this many headers, each name and value cut to this many characters.
WEBHOOK_REJECTION_HEADER_COUNT = env.int("WEBHOOK_REJECTION_HEADER_COUNT", default=30)
WEBHOOK_REJECTION_HEADER_CHARS = env.int("WEBHOOK_REJECTION_HEADER_CHARS", default=64)
# Past this many refusals from one source (IPv4 address or IPv6 /64) for one provider within a
# minute, a web process only counts the next ones (no database read or write, no log line) and
# answers 401 as before. Per process: W web processes examine at most W times this.
WEBHOOK_REJECTION_SOURCE_LIMIT = env.int("WEBHOOK_REJECTION_SOURCE_LIMIT", default=600)
# Each web process adds its counts to WebhookRejectionCounter at most this often (and with each
# kept sample); the admin's figures may trail a flood by that much.
WEBHOOK_REJECTION_FLUSH_SECONDS = env.float("WEBHOOK_REJECTION_FLUSH_SECONDS", default=2.0)
# At most this many drain tasks are queued or running at once (0: half of Q_WORKERS, at least one),
# so stored webhooks cannot fill the task queue with drains nor take every worker.
WEBHOOK_DRAIN_CONCURRENCY = env.int("WEBHOOK_DRAIN_CONCURRENCY", default=0)
# A queued drain holds its place this long before it starts (the time a woken drain may wait in the
# queue behind other tasks); past it, its task is presumed lost with the queue and the place is free.
WEBHOOK_DRAIN_QUEUE_GRACE_SECONDS = env.float("WEBHOOK_DRAIN_QUEUE_GRACE_SECONDS", default=60.0)
# A running drain holds its place on a lease of this many seconds, renewed as it works (every third
# of it): the place of a drain killed mid-run (kill -9, a lost worker) is free again this soon.
WEBHOOK_DRAIN_LEASE_SECONDS = env.float("WEBHOOK_DRAIN_LEASE_SECONDS", default=5.0)
# When an event goes dead, the active users of these groups (accounts.access.roles' ops and admin
# roles) get one e-mail; its link to the event's admin page starts with OPS_ALERT_BASE_URL (e.g.
# https://switchboard.example.com; empty: a path only).
OPS_ALERT_GROUPS = env.list("OPS_ALERT_GROUPS", default=["ops", "admin"])
OPS_ALERT_BASE_URL = env.str("OPS_ALERT_BASE_URL", default="")
