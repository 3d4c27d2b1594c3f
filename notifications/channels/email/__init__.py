"""E-mail through Django's e-mail backend: console in the demo, locmem in tests, SMTP in production.
``adapter`` sends; delivery receipts have no webhook here."""

from integrations.providers import MESSAGING, ProviderSpec

spec = ProviderSpec(
    family=MESSAGING.name,
    name="email",
    adapter="notifications.channels.email.adapter.EmailChannel",
    enabled_by="EMAIL_CHANNEL_ENABLED",
    channels=("email",),
    description="E-mail through Django's e-mail backend (console locally, SMTP in production).",
)
