"""Staff alerts (integrations.alerts): Slack and e-mail to the role's group. See
docs/staff-alerts.md."""

from __future__ import annotations

from config.settings.env import env

# Slack: an incoming webhook (one channel, chosen when the webhook was made) or a bot token with
# chat.postMessage and a channel per alert kind. Off by default: alerts then go by e-mail only.
SLACK_ENABLED = env.bool("SLACK_ENABLED", default=False)
SLACK_WEBHOOK_URL = env.str("SLACK_WEBHOOK_URL", default="")
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
# kind=channel pairs, e.g. "dispute_opened=#finance,breaker_open=#ops"; kinds not named go to
# SLACK_DEFAULT_CHANNEL. Only used with SLACK_BOT_TOKEN (a webhook posts to its own channel).
SLACK_CHANNELS = env.dict("SLACK_CHANNELS", default={})
SLACK_DEFAULT_CHANNEL = env.str("SLACK_DEFAULT_CHANNEL", default="#ops")
# The Web API's base (tests point it at a local fake).
SLACK_API_BASE = env.str("SLACK_API_BASE", default="https://slack.com/api")

# One alert per (kind, object) per window; repeats inside it are counted and told in the next one.
STAFF_ALERT_WINDOW_SECONDS = env.int("STAFF_ALERT_WINDOW_SECONDS", default=900)
# Sends (Slack, e-mail) that failed for a reason retrying can help are tried again with backoff
# (30 s doubling, at most STAFF_ALERT_RETRY_MAX_SECONDS apart) up to this many attempts.
STAFF_ALERT_MAX_ATTEMPTS = env.int("STAFF_ALERT_MAX_ATTEMPTS", default=20)
STAFF_ALERT_RETRY_MAX_SECONDS = env.int("STAFF_ALERT_RETRY_MAX_SECONDS", default=1800)
