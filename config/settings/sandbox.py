"""Sandbox providers (payments, shipping, messaging): on by default, chaos off by default."""

from config.settings.env import env

# whsec_<base64>; local.py makes one per install when the environment gives none.
SANDBOX_WEBHOOK_SECRET = env.str("SANDBOX_WEBHOOK_SECRET", default="")
# The previous secret stays valid during a rotation.
SANDBOX_WEBHOOK_SECRET_PREVIOUS = env.str("SANDBOX_WEBHOOK_SECRET_PREVIOUS", default="")
# Where the sandbox delivers its webhooks: this deployment's own base URL.
SANDBOX_WEBHOOK_TARGET = env.str("SANDBOX_WEBHOOK_TARGET", default="http://127.0.0.1:8000")
SANDBOX_DELAY_MIN_MS = env.int("SANDBOX_DELAY_MIN_MS", default=200)
SANDBOX_DELAY_MAX_MS = env.int("SANDBOX_DELAY_MAX_MS", default=1500)
SANDBOX_CHAOS_DUPLICATE_RATE = env.float("SANDBOX_CHAOS_DUPLICATE_RATE", default=0.0)
SANDBOX_CHAOS_REORDER = env.bool("SANDBOX_CHAOS_REORDER", default=False)
SANDBOX_CHAOS_FAILURE_RATE = env.float("SANDBOX_CHAOS_FAILURE_RATE", default=0.0)
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=True)
# Whether the sandbox really POSTs its webhooks (unit tests turn it off; flow tests turn it on).
SANDBOX_SEND_WEBHOOKS = env.bool("SANDBOX_SEND_WEBHOOKS", default=True)
# The sandbox's own retry schedule for webhooks our endpoint did not accept (0.5 s doubling to
# a minute), and when it gives up.
SANDBOX_MAX_ATTEMPTS = env.int("SANDBOX_MAX_ATTEMPTS", default=30)
# A sender that died mid-send is presumed dead after this long; its row is sent again.
SANDBOX_CLAIM_TIMEOUT_SECONDS = env.int("SANDBOX_CLAIM_TIMEOUT_SECONDS", default=30)
# One sender task runs at most this long, then hands over to a new task if rows are pending.
SANDBOX_SENDER_MAX_SECONDS = env.float("SANDBOX_SENDER_MAX_SECONDS", default=30.0)
