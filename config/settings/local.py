"""Local development and `make demo`: the embedded profile, console e-mail, demo logins."""

import base64
import secrets
from pathlib import Path

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="local-only-insecure-key-switchboard-demo-never-use-in-production-0123456789",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Password used for the seeded demo users (one per role).
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="switchboard-demo")
# The carrier the demo ships with: "sandbox" (in-process, with its chaos options) or
# "melhor_envio": run_demo starts the fake Melhor Envio API on loopback and ships a few seeded
# orders through the real adapter (config/demo_carrier.py).
DEMO_CARRIER = env.str("DEMO_CARRIER", default="sandbox")
# The demo users (one per role) sign in with that password, without MFA (settings/security.py).
PASSWORD_LOGIN_ROLES = env.list(
    "PASSWORD_LOGIN_ROLES", default=["support", "sales", "finance", "ops", "admin"]
)
PASSWORD_LOGIN_REQUIRES_MFA = env.bool("PASSWORD_LOGIN_REQUIRES_MFA", default=False)


def _install_secret(path: Path) -> str:
    """A per-install sandbox webhook secret, shared by the web server and the workers."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


SANDBOX_WEBHOOK_SECRET = env.str("SANDBOX_WEBHOOK_SECRET", default="") or _install_secret(
    VAR_DIR / "sandbox-webhook-secret"
)


def _install_fernet_key(path: Path) -> str:
    """A per-install key for the credentials stored in the local database (never committed)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        path.chmod(0o600)
    return path.read_text().strip()


CREDENTIALS_KEYS = env.list("CREDENTIALS_KEYS", default=[]) or [
    _install_fernet_key(VAR_DIR / "credentials-key")
]


def _install_token(path: Path) -> str:
    """A per-install random secret kept in var/ (never committed)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


# The demo exports every domain event (usage events included) to a warehouse directory of
# daily JSONL files in var/ (docs/analytics.md); ANALYTICS_WAREHOUSE_DIR= (empty) turns it off.
ANALYTICS_WAREHOUSE_DIR = env.str("ANALYTICS_WAREHOUSE_DIR", default=str(VAR_DIR / "analytics"))
ANALYTICS_PII_HASH_KEY = env.str("ANALYTICS_PII_HASH_KEY", default="") or _install_token(
    VAR_DIR / "analytics-pii-hash-key"
)
