"""Production: refuses to start when it is not safe to."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F403
from config.settings.base import ALLOWED_HOSTS, DEBUG, SECRET_KEY, env

MIN_SECRET_KEY_LENGTH = 50
KNOWN_INSECURE_PREFIXES = ("django-insecure", "local-only-insecure", "test-only-key", "changeme")

if DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production.")
if (
    len(SECRET_KEY) < MIN_SECRET_KEY_LENGTH
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith(KNOWN_INSECURE_PREFIXES)
):
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY must be a random value of at least {MIN_SECRET_KEY_LENGTH} characters "
        "and not a known default."
    )
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names this site serves.")

# Production refuses any sandbox provider (a system check) unless it is allowed on purpose.
PRODUCTION = True
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=False)
SANDBOX_IN_PRODUCTION = env.bool("SANDBOX_IN_PRODUCTION", default=False)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Resend through anymail by default (settings/email.py); any Django or anymail backend by name.
EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default=RESEND_BACKEND)  # noqa: F405
# Break-glass password login: admins only, always with a TOTP code (settings/security.py).
PASSWORD_LOGIN_ROLES = env.list("PASSWORD_LOGIN_ROLES", default=["admin"])
PASSWORD_LOGIN_REQUIRES_MFA = True
