"""Settings shared by every profile. Values come from the environment through django-environ."""

from __future__ import annotations

from pathlib import Path

from config import __version__
from config.settings.accounting import *  # noqa: F403
from config.settings.analytics import *  # noqa: F403
from config.settings.asaas import *  # noqa: F403
from config.settings.credentials import *  # noqa: F403
from config.settings.csp import *  # noqa: F403
from config.settings.deliveries import *  # noqa: F403
from config.settings.easypost import *  # noqa: F403
from config.settings.email import *  # noqa: F403
from config.settings.env import BASE_DIR, env
from config.settings.evidence import evidence_storage_from_env
from config.settings.hubspot import *  # noqa: F403
from config.settings.logging import configure_structlog, logging_config
from config.settings.melhor_envio import *  # noqa: F403
from config.settings.metrics import *  # noqa: F403
from config.settings.notification_policy import *  # noqa: F403
from config.settings.oidc import *  # noqa: F403
from config.settings.outbound import *  # noqa: F403
from config.settings.profile import database_from_env, profile_name
from config.settings.providers import *  # noqa: F403
from config.settings.saml import *  # noqa: F403
from config.settings.sandbox import *  # noqa: F403
from config.settings.security import *  # noqa: F403
from config.settings.settlements import *  # noqa: F403
from config.settings.shipping_alerts import *  # noqa: F403
from config.settings.shopify import *  # noqa: F403
from config.settings.slack import *  # noqa: F403
from config.settings.stripe import *  # noqa: F403
from config.settings.tasks import SWEEPER_CLUSTER, q_cluster_from_env
from config.settings.twilio import *  # noqa: F403
from config.settings.webhooks import *  # noqa: F403
from config.settings.webhooks_out import *  # noqa: F403
from config.settings.zapi import *  # noqa: F403

VAR_DIR = BASE_DIR / "var"

APP_VERSION = __version__
SWITCHBOARD_PROFILE = profile_name(env)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# True only under config.settings.production (the system checks refuse sandbox providers there
# unless SANDBOX_IN_PRODUCTION=true says they are wanted on purpose).
PRODUCTION = False
SANDBOX_IN_PRODUCTION = False
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.SwitchboardAdminConfig",  # django.contrib.admin with config/admin_site.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "anymail",
    *ALLAUTH_APPS,  # noqa: F405 - break-glass password login with TOTP (security.py)
    *SAML_APPS,  # noqa: F405 - staff SSO over SAML (saml.py)
    "integrations",
    "accounts",
    "orders",
    "payments",
    "accounting",
    "shipping",
    "notifications",
    "usage",
    "config",
]

MIDDLEWARE = [
    "integrations.middleware.RequestIdMiddleware",
    # Request latency histogram by view, method and status (integrations/metrics.py).
    "integrations.metrics.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.access.middleware.AuditMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.access.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    *CSP_MIDDLEWARE,  # noqa: F405 - Content-Security-Policy on every response (csp.py)
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": database_from_env(env, VAR_DIR / "switchboard.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # With Redis down, reads miss and writes are dropped after at most this long per call, so
    # throttling lets API calls through instead of failing them (integrations/cache.py).
    redis_cache_timeout = env.float("REDIS_CACHE_TIMEOUT_SECONDS", default=0.5)
    CACHES = {
        "default": {
            "BACKEND": "integrations.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "switchboard",
            "OPTIONS": {
                "socket_connect_timeout": redis_cache_timeout,
                "socket_timeout": redis_cache_timeout,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "switchboard_cache",
        }
    }

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
MIDDLEWARE += OIDC_MIDDLEWARE  # noqa: F405 - SSO session re-check, only when OIDC is configured
# Staff sessions: signed out after this long without a request, and SESSION_COOKIE_AGE after
# signing in whatever the activity (accounts.access.middleware.SessionTimeoutMiddleware).
SESSION_IDLE_TIMEOUT_SECONDS = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=30 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=10 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Proxies in front of the site that append to X-Forwarded-For; 0 trusts only REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Uploaded files (dispute evidence documents); nothing under it is served by URL.
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    # Dispute evidence documents: local files, or an S3-compatible store (config/settings/evidence.py).
    "evidence": evidence_storage_from_env(env, Path(MEDIA_ROOT)),
}

# Customer model that DomainEvents point at (integrations imports no domain app, so it is named here).
SWITCHBOARD_CUSTOMER_MODEL = "accounts.Customer"
# Maximum rows an admin changelist counts before it says "more than N".
ADMIN_COUNT_CAP = env.int("ADMIN_COUNT_CAP", default=10_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.access.api_keys.ApiKeyAuthentication",
        "accounts.access.api_auth.OIDCBearerAuthentication",  # only when SSO is configured
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # One bucket per API key or staff user and per scope (DRF's UserRateThrottle keyed every
    # API key on user.pk None: one bucket shared by all). API keys: API_KEY_RATE below.
    "DEFAULT_THROTTLE_CLASSES": ["accounts.access.api_keys.ApiClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_USER_RATE", default="600/min")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    # Every error answers as a problem document (RFC 9457) with a stable "code".
    "EXCEPTION_HANDLER": "integrations.api_errors.problem_exception_handler",
}
# Above this (minor units, any currency), a refund needs two different finance approvers.
REFUND_DUAL_APPROVAL_THRESHOLD = env.int("REFUND_DUAL_APPROVAL_THRESHOLD", default=100_000)
# Approving a refund above that threshold needs a password re-entry or SSO login this recent.
SENSITIVE_ACTION_REAUTH_SECONDS = env.int("SENSITIVE_ACTION_REAUTH_SECONDS", default=300)
# Reconciliation exception queue: write-offs above this (minor units, any currency) need a
# second finance user's approval. The accounts a write-off may go to come from the chart
# (config/settings/accounting.py WRITE_OFF_ACCOUNTS).
RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD = env.int(
    "RECONCILIATION_WRITE_OFF_APPROVAL_THRESHOLD", default=10_000
)
# Requests per API key (DRF rate syntax); past it the API answers 429.
API_KEY_RATE = env.str("API_KEY_RATE", default="1200/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    # Interactive docs (/api/docs/) from our own static files (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Two "source" fields in the quote API: each option's and the answer's.
    "ENUM_NAME_OVERRIDES": {
        "QuoteSourceEnum": "shipping.models.QuoteSource",
        "QuoteAnswerSourceEnum": "shipping.serializers.ANSWER_SOURCES",
    },
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

Q_CLUSTER = q_cluster_from_env(env)
# The second cluster that runs only the sweepers and heartbeats (config/settings/tasks.py).
Q_SWEEPER_CLUSTER = SWEEPER_CLUSTER
# A cluster heartbeat older than this makes /health/ report the task cluster as stale.
TASK_HEARTBEAT_STALE_SECONDS = env.int("TASK_HEARTBEAT_STALE_SECONDS", default=180)

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
configure_structlog()
LOGGING = logging_config(LOG_LEVEL)
