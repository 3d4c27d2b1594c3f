"""The analytics stream (integrations/analytics/, docs/analytics.md): every committed domain
event (usage events included) exported to Segment, PostHog and a warehouse directory of JSONL
files. Each sink is on once its key or directory is set; all are off by default."""

from __future__ import annotations

from config.settings.env import env

# Segment (official SDK segment-analytics-python, synchronous mode).
ANALYTICS_SEGMENT_WRITE_KEY = env.str("ANALYTICS_SEGMENT_WRITE_KEY", default="")
ANALYTICS_SEGMENT_HOST = env.str("ANALYTICS_SEGMENT_HOST", default="https://api.segment.io")
# PostHog (official SDK posthog, synchronous mode). The host is the project's ingestion host
# (https://us.i.posthog.com or https://eu.i.posthog.com).
ANALYTICS_POSTHOG_API_KEY = env.str("ANALYTICS_POSTHOG_API_KEY", default="")
ANALYTICS_POSTHOG_HOST = env.str("ANALYTICS_POSTHOG_HOST", default="https://us.i.posthog.com")
# Warehouse: daily-partitioned JSONL files under this directory (events/v=1/date=YYYY-MM-DD/).
ANALYTICS_WAREHOUSE_DIR = env.str("ANALYTICS_WAREHOUSE_DIR", default="")

# HMAC-SHA256 key of the "hash" PII rule: stable hashes that a dictionary of e-mails cannot
# reverse without it. Required (at least 32 characters) once any sink is on.
ANALYTICS_PII_HASH_KEY = env.str("ANALYTICS_PII_HASH_KEY", default="")
# Per event type overrides of the default PII rules, as JSON: {"<type or prefix.*>":
# {"<field>": "drop" | "hash" | "keep"}}; "*" as the field names every field of the type.
ANALYTICS_PII_RULES: dict[str, dict[str, str]] = env.json("ANALYTICS_PII_RULES", default={})
# Event types (fnmatch patterns) never exported, e.g. ["webhook_endpoint.*"].
ANALYTICS_EXCLUDE_TYPES: list[str] = env.list("ANALYTICS_EXCLUDE_TYPES", default=[])
# Part of every message id (with the DomainEvent id): two installs that share a Segment source
# or PostHog project must differ here, or Segment would drop one's events as duplicates.
ANALYTICS_SOURCE = env.str("ANALYTICS_SOURCE", default="switchboard")
# Seconds the SDKs wait for Segment or PostHog to answer one call.
ANALYTICS_TIMEOUT_SECONDS = env.float("ANALYTICS_TIMEOUT_SECONDS", default=10.0)
# Attempts of one event's delivery to one sink before it is dead (retries with backoff).
ANALYTICS_MAX_ATTEMPTS = env.int("ANALYTICS_MAX_ATTEMPTS", default=12)
