"""Test settings: the same profile selection as production, tasks run synchronously."""

from config.settings.base import *  # noqa: F403
from config.settings.base import Q_CLUSTER, env

DEBUG = False
SECRET_KEY = "test-only-key-switchboard-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
DEMO_PASSWORD = "switchboard-demo"  # noqa: S105
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOG_LEVEL = env.str("LOG_LEVEL", default="WARNING")
# Tests never run collectstatic; let WhiteNoise look files up on demand instead of at start-up.
WHITENOISE_AUTOREFRESH = True
# A fixed, test-only Standard Webhooks secret (base64 of 32 bytes).
SANDBOX_WEBHOOK_SECRET = "whsec_" + "dGVzdC1vbmx5LXNhbmRib3gtc2VjcmV0LTMyLWJ5dGU="
SANDBOX_DELAY_MIN_MS = 0
SANDBOX_DELAY_MAX_MS = 0
