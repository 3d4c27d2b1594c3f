"""E-mail: how messages leave (Django's e-mail backend, django-anymail for an ESP), what they
look like (the business's name and logo) and which ESPs' tracking webhooks are served.

Locally the console backend prints messages; tests use locmem; production sends through Resend
(``notifications.channels.email.backend.ResendEmailBackend``: anymail's Resend backend whose HTTP
goes through the shared outbound client, with an Idempotency-Key per notification). Any other
anymail ESP is one setting: ``DJANGO_EMAIL_BACKEND=anymail.backends.postmark.EmailBackend`` plus
its ``ANYMAIL_*`` keys.
"""

from config.settings.env import env

RESEND_BACKEND = "notifications.channels.email.backend.ResendEmailBackend"

ANYMAIL = {
    "RESEND_API_KEY": env.str("RESEND_API_KEY", default=""),
    # The Svix signing secret of the Resend webhook (whsec_...): verifies /webhooks/email/resend/.
    "RESEND_SIGNING_SECRET": env.str("RESEND_SIGNING_SECRET", default="") or None,
    "RESEND_API_URL": env.str("RESEND_API_URL", default="https://api.resend.com/"),
    # Basic-auth credentials ("user:password") that ESPs without signatures (Postmark,
    # SendGrid...) put in the webhook URL; anymail checks them.
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="") or None,
    "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN", default=""),
}

# The ESPs whose tracking webhooks /webhooks/email/<esp>/ accepts (each needs its secret above).
EMAIL_TRACKING_ESPS = env.list("EMAIL_TRACKING_ESPS", default=["resend"])

# What the customer sees in every e-mail.
BUSINESS_NAME = env.str("BUSINESS_NAME", default="Switchboard Demo Store")
BUSINESS_LOGO_URL = env.str("BUSINESS_LOGO_URL", default="")
BUSINESS_SUPPORT_EMAIL = env.str("BUSINESS_SUPPORT_EMAIL", default="")
# A customer without a language of their own gets e-mails in this one (pt-br or en).
CUSTOMER_DEFAULT_LANGUAGE = env.str("CUSTOMER_DEFAULT_LANGUAGE", default="pt-br")
