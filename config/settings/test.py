"""Test settings: the same profile selection as production, tasks run synchronously."""

import os

from config.settings.base import *  # noqa: F403
from config.settings.base import Q_CLUSTER, env

DEBUG = False
SECRET_KEY = "test-only-key-switchboard-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
DEMO_PASSWORD = "switchboard-demo"  # noqa: S105
DEMO_CARRIER = "sandbox"
# As the local profile: every role signs in with a password, no MFA (break-glass tests override).
PASSWORD_LOGIN_ROLES = ["support", "sales", "finance", "ops", "admin"]
PASSWORD_LOGIN_REQUIRES_MFA = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # One directory per process; tests that keep files point it at their own tmp_path.
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(BASE_DIR / "var" / f"test-evidence-{os.getpid()}")},  # noqa: F405
    },
}
LOG_LEVEL = env.str("LOG_LEVEL", default="WARNING")
# Tests never run collectstatic; let WhiteNoise look files up on demand instead of at start-up.
WHITENOISE_AUTOREFRESH = True
# A fixed, test-only Standard Webhooks secret (base64 of 32 bytes).
SANDBOX_WEBHOOK_SECRET = "whsec_" + "dGVzdC1vbmx5LXNhbmRib3gtc2VjcmV0LTMyLWJ5dGU="
# A fixed, test-only Fernet key for stored provider credentials (base64 of 32 bytes).
CREDENTIALS_KEYS = ["dGVzdC1vbmx5LWNyZWRlbnRpYWxzLWtleS0zMmJ5dGU="]
SANDBOX_DELAY_MIN_MS = 0
SANDBOX_DELAY_MAX_MS = 0

# A file, not ":memory:": live servers and worker threads in tests then share a real database
# with the embedded profile's locking (WAL, IMMEDIATE, busy timeout), as in production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # One file per process, so parallel runs in one checkout never share a test database.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(BASE_DIR / "var" / f"test-switchboard-{os.getpid()}.sqlite3")  # noqa: F405
    }
# The sandbox providers answer calls but send no webhooks unless a flow test asks them to.
SANDBOX_SEND_WEBHOOKS = False
# Tasks run inline: wake a drain for every stored event, and let it return as soon as it is idle.
WEBHOOK_WAKE_WINDOW_SECONDS = 0.0
WEBHOOK_DRAIN_LINGER_SECONDS = 0.0
# No quiet hours by default: a test's outcome must not depend on the hour it runs at. The send
# policy's tests set them (tests/notifications/test_policy_quiet_hours.py).
NOTIFICATION_QUIET_HOURS = ""
# The local webhook receivers of the outbound-webhook tests listen on loopback over plain http.
WEBHOOKS_OUT_ALLOWED_NETWORKS = ["127.0.0.1/32"]
WEBHOOKS_OUT_ALLOW_HTTP = True
# The cluster runs tasks inline here: a drain must not wait for the next retry.
WEBHOOKS_OUT_DRAIN_LINGER_SECONDS = 0.0
# Names the tests use, answered without DNS (192.0.2.0/24 is documentation space: refused).
WEBHOOKS_OUT_HOSTS = {"erp.example.test": ["192.0.2.10"]}
