"""Local development and `make demo`: the embedded profile, console e-mail, demo logins."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="local-only-insecure-key-switchboard-demo-never-use-in-production-0123456789",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Password used for the seeded demo users (one per role).
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="switchboard-demo")
