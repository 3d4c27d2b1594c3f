"""Stripe (cards, worldwide). Enabled by STRIPE_ENABLED; the system checks refuse to start without
its secrets (payments/providers/stripe/__init__.py declares them)."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env

STRIPE_ENABLED = env.bool("STRIPE_ENABLED", default=False)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
# Comma-separated: during a secret rotation both the old and the new whsec_ are accepted.
# Spaces around the commas ("whsec_old, whsec_new") are not part of a secret.
STRIPE_WEBHOOK_SECRETS: list[str] = [
    secret.strip() for secret in env.list("STRIPE_WEBHOOK_SECRET", default=[]) if secret.strip()
]
# Only for tests against a local fake Stripe: the SDK's API base.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# Stripe takes file uploads (dispute evidence) on its own host; tests point it at a local fake.
STRIPE_FILES_API_BASE = env.str("STRIPE_FILES_API_BASE", default="https://files.stripe.com")
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int("STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300)
# Test mode and demos: confirm new PaymentIntents with this payment method (e.g. pm_card_visa).
STRIPE_CONFIRM_PAYMENT_METHOD = env.str("STRIPE_CONFIRM_PAYMENT_METHOD", default="")
# "manual": card payments are only authorised when confirmed (Stripe holds the amount,
# requires_capture) and captured later; the payment's authorised and captured amounts show the
# difference. "automatic" (default): captured at once.
STRIPE_CAPTURE_METHOD = env.str("STRIPE_CAPTURE_METHOD", default="automatic")
if STRIPE_CAPTURE_METHOD not in ("automatic", "manual"):
    raise ImproperlyConfigured(
        f"STRIPE_CAPTURE_METHOD is {STRIPE_CAPTURE_METHOD!r}; it must be automatic or manual."
    )
