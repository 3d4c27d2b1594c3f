"""The send policy (``notifications.policy``): quiet hours, the per-customer rate limit and the
customer's default time zone. Consent, preferences and WhatsApp's window are data, not settings."""

from config.settings.env import env

# A customer without a time zone of their own lives in this one (IANA name).
CUSTOMER_DEFAULT_TIME_ZONE = env.str("CUSTOMER_DEFAULT_TIME_ZONE", default="America/Sao_Paulo")
# "HH:MM-HH:MM" in the customer's local time (the end may be the next morning); blank: none.
# A customer's own quiet hours (set on their page) replace these.
NOTIFICATION_QUIET_HOURS = env.str("NOTIFICATION_QUIET_HOURS", default="21:00-08:00")
# At most this many messages to one customer, across channels, in any rolling hour / day
# (0: no limit). Urgent transactional messages are not counted and never refused.
NOTIFICATION_RATE_LIMIT_PER_HOUR = env.int("NOTIFICATION_RATE_LIMIT_PER_HOUR", default=12)
NOTIFICATION_RATE_LIMIT_PER_DAY = env.int("NOTIFICATION_RATE_LIMIT_PER_DAY", default=40)
