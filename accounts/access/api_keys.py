"""API keys for the business's own product and other API clients.

A key is shown once at creation (``sbk_<prefix>_<secret>``); we store only the prefix (to find it
and to show it) and a SHA-256 of the whole key (the secret is 256 random bits, so a fast hash is
safe). Keys carry scopes, may expire, are revocable, and record when they were last used.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from accounts.access.audit import Action, audit_record
from accounts.access.exceptions import ApiKeyNotAllowed
from accounts.models import ApiKey, User

if TYPE_CHECKING:  # importing DRF's views here would be circular (DRF loads this module)
    from rest_framework.views import APIView

KEY_PREFIX = "sbk"
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(
    *,
    name: str,
    scopes: list[str],
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw key, which is never retrievable again.
    Raises ApiKeyNotAllowed for an unknown scope or an expiry in the past."""
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown:
        raise ApiKeyNotAllowed(f"Unknown scopes: {sorted(unknown)}")
    if expires_at is not None and expires_at <= timezone.now():
        raise ApiKeyNotAllowed("An API key cannot expire in the past.")
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=_hash(raw_key),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
            created_by=created_by,
        )
        audit_record(
            action=Action.API_KEY_CREATED,
            actor=created_by,
            obj=key,
            changes={
                "name": [None, key.name],
                "scopes": [None, key.scopes],
                "expires_at": [None, key.expires_at],
            },
        )
    return key, raw_key


def api_key_revoke(*, key: ApiKey, revoked_by: User | None = None) -> ApiKey:
    """Revoke ``key`` now; revoking a revoked key changes nothing and records nothing.
    Audited (who, which key) in the same transaction."""
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        key.refresh_from_db(fields=["revoked_at"])
        if revoked:
            audit_record(
                action=Action.API_KEY_REVOKED,
                actor=revoked_by,
                obj=key,
                changes={"revoked_at": [None, key.revoked_at]},
            )
    return key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching ``raw_key``, or None (unknown, wrong secret, revoked, expired)."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    key = ApiKey.objects.filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(raw_key)):
        return None
    now = timezone.now()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


class ApiKeyUser:
    """The request.user of an API-key request: authenticated, not a staff member."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_active = True

    def __init__(self, key: ApiKey) -> None:
        self.api_key = key
        self.pk = None
        self.username = f"api-key:{key.prefix}"

    def __str__(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key sbk_<prefix>_<secret>``."""

    keyword = "Api-Key"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{self.keyword} "):
            return None
        key = api_key_authenticate(header[len(self.keyword) + 1 :].strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


# What a staff session needs, in place of a key's scope: the Django permission of the same right
# (see ``accounts.access.roles``). Reading orders is every role's; placing orders and sending usage is the
# product's (its API key) or the admin role's.
SCOPE_PERMISSIONS: dict[str, str] = {
    ApiKey.Scope.ORDERS_READ: "orders.view_order",
    ApiKey.Scope.ORDERS_WRITE: "orders.add_order",
    ApiKey.Scope.USAGE_WRITE: "integrations.add_domainevent",
    ApiKey.Scope.CUSTOMERS_READ: "accounts.view_customer",
    # Quoting keeps table rates and an order's quotes: staff who may buy labels (ops, admin).
    ApiKey.Scope.SHIPPING_QUOTE: "shipping.buy_label",
}


class HasScope(permissions.BasePermission):
    """API keys need the view's ``required_scope``; staff sessions need the Django permission
    that scope stands for (``SCOPE_PERMISSIONS``), so a role reaches through the API only what
    it reaches in the admin. A scope with no permission mapped is refused to staff."""

    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: APIView) -> bool:
        required = getattr(view, "required_scope", None)
        if isinstance(request.auth, ApiKey):
            return required is None or required in request.auth.scopes
        user = request.user
        if not (user and user.is_authenticated and user.is_staff and user.is_active):
            return False
        if required is None:
            return False
        permission = SCOPE_PERMISSIONS.get(required)
        return permission is not None and bool(user.has_perm(permission))


def api_client_identity(request: Request) -> str | None:
    """Who calls the API, for state kept per client (throttle buckets, idempotency keys):
    ``api_key:<id>`` for an API key, ``user:<id>`` for a staff user (OIDC bearer token or
    session), None for an anonymous request."""
    if isinstance(request.auth, ApiKey):
        return f"api_key:{request.auth.pk}"
    user = request.user
    if user is not None and user.is_authenticated and getattr(user, "pk", None) is not None:
        return f"user:{user.pk}"
    return None


class ApiClientRateThrottle(throttling.SimpleRateThrottle):
    """A request budget per API client and per scope; answers 429 past it.

    Each API key (``API_KEY_RATE``) and each staff user, by bearer token or session
    (``DEFAULT_THROTTLE_RATES["user"]``), has one bucket per scope the endpoint needs
    (``required_scope``), so one client never uses up another's budget, and reading orders never
    uses up a client's budget for placing them. Anonymous requests are refused before throttling.
    """

    def __init__(self) -> None:
        # The rate depends on who calls: it is chosen per request, in allow_request.
        self.rate: str | None = None
        self._cache_key: str | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        client = api_client_identity(request)
        if client is None:
            return True
        if isinstance(request.auth, ApiKey):
            self.rate = str(settings.API_KEY_RATE)
        else:
            # DRF's own THROTTLE_RATES is read once at import; this follows settings changes.
            user_rate = api_settings.DEFAULT_THROTTLE_RATES.get("user")
            self.rate = None if user_rate is None else str(user_rate)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        api_scope = getattr(view, "required_scope", None) or "any"
        self._cache_key = f"throttle:{client}:{api_scope}"
        return bool(super().allow_request(request, view))

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        return self._cache_key


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the API-key scheme in the OpenAPI schema (drf-spectacular)."""

    target_class = "accounts.access.api_keys.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key sbk_<prefix>_<secret>`; keys are created in the admin.",
        }
