"""E-mail through Django's e-mail backend: console in the demo, locmem in tests, Resend (or any
django-anymail ESP) in production. ``adapter`` renders and sends; ``backend`` is anymail's
Resend backend on the shared outbound client; ``webhooks`` takes the ESPs' tracking events at
``/webhooks/email/<esp>/`` (delivered, bounced, complained, opened)."""

from integrations.providers import MESSAGING, ProviderSpec, WebhookRoute

spec = ProviderSpec(
    family=MESSAGING.name,
    name="email",
    adapter="notifications.channels.email.adapter.EmailChannel",
    enabled_by="EMAIL_CHANNEL_ENABLED",
    webhooks=tuple(
        WebhookRoute(f"email-{esp}", f"notifications.channels.email.webhooks.{esp}")
        for esp in ("resend", "postmark", "sendgrid", "mailgun")
    ),
    channels=("email",),
    description="E-mail through Django's e-mail backend (console locally, Resend or another "
    "anymail ESP in production), with the ESP's tracking webhooks.",
)
