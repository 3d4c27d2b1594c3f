"""Staff SSO: the OIDC backend, its views and the session re-check (see config/settings/oidc.py).

At every SSO login the user's role groups are replaced by the roles their IdP groups map to
(``SSO_GROUP_ROLE_MAP``). Someone with no mapped group is refused (and, if they had an account,
loses staff access and roles here); the callback then shows ``sso-no-access``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from mozilla_django_oidc.auth import (  # type: ignore[import-untyped]
    OIDCAuthenticationBackend,
    default_username_algo,
)
from mozilla_django_oidc.middleware import SessionRefresh  # type: ignore[import-untyped]
from mozilla_django_oidc.utils import import_from_settings  # type: ignore[import-untyped]
from mozilla_django_oidc.views import (  # type: ignore[import-untyped]
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from accounts.models import User
from accounts.roles import ROLES

logger = logging.getLogger(__name__)

# Why the last SSO attempt was refused; read (once) by the no-access page.
REFUSAL_SESSION_KEY = "sso_refusal"
NO_ROLE, INVALID, IDP_ERROR, UNAVAILABLE = "no_role", "invalid", "idp_error", "unavailable"

_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_ISSUER": "issuer",
}


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


# Discovery documents by URL: (monotonic expiry, document); a failed fetch is cached (empty) for a
# short while so an unreachable IdP does not slow every request down.
_DISCOVERY_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
DISCOVERY_TTL_SECONDS = 3600.0
DISCOVERY_RETRY_SECONDS = 30.0


def _discovery(url: str) -> dict[str, Any]:
    now = time.monotonic()
    cached = _DISCOVERY_CACHE.get(url)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        response = requests.get(url, timeout=getattr(settings, "OIDC_TIMEOUT", 10))
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("discovery document is not an object")
        ttl = DISCOVERY_TTL_SECONDS
    except (requests.RequestException, ValueError) as exc:
        logger.warning("OIDC discovery failed: %s", exc, extra={"url": url})
        document, ttl = {}, DISCOVERY_RETRY_SECONDS
    _DISCOVERY_CACHE[url] = (now + ttl, document)
    return document


def oidc_setting(attr: str, *default: Any) -> Any:
    """A mozilla-django-oidc setting; IdP endpoints not set explicitly come from discovery."""
    explicit = getattr(settings, attr, None)
    discovery_url = getattr(settings, "OIDC_OP_DISCOVERY_URL", "")
    if attr in _DISCOVERED and not explicit and discovery_url:
        return _discovery(discovery_url).get(_DISCOVERED[attr], "")
    return import_from_settings(attr, *default)


def _refuse(request: HttpRequest | None, reason: str) -> None:
    if request is not None:
        setattr(request, REFUSAL_SESSION_KEY, reason)


def roles_for_groups(groups: Any) -> list[str]:
    """The roles that a ``groups`` claim maps to through ``SSO_GROUP_ROLE_MAP``, in role order."""
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return []
    mapping: dict[str, str] = settings.SSO_GROUP_ROLE_MAP
    mapped = {mapping[g] for g in groups if isinstance(g, str) and g in mapping}
    return [role for role in ROLES if role in mapped]


def set_roles(user: User, roles: list[str]) -> None:
    """Make ``user``'s role groups exactly ``roles`` (other groups stay) and is_staff match."""
    role_groups = {g.name: g for g in Group.objects.filter(name__in=ROLES)}
    for role in roles:
        if role not in role_groups:
            role_groups[role], _ = Group.objects.get_or_create(name=role)
    current = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    stale = [role_groups[name] for name in current - set(roles)]
    if stale:
        user.groups.remove(*stale)
    fresh = [role_groups[name] for name in set(roles) - current]
    if fresh:
        user.groups.add(*fresh)
    if user.is_staff != bool(roles):
        user.is_staff = bool(roles)
        user.save(update_fields=["is_staff"])


class StaffOIDCBackend(OIDCAuthenticationBackend):
    """Creates/updates staff users from verified claims and maps IdP groups to roles."""

    get_settings = staticmethod(oidc_setting)

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or not sso_enabled() or "code" not in request.GET:
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
        except (SuspiciousOperation, requests.RequestException) as exc:
            logger.warning("SSO login refused: %s", exc)
            _refuse(request, INVALID)
            return None
        if user is None and not hasattr(request, REFUSAL_SESSION_KEY):
            _refuse(request, INVALID)
        return user

    def retrieve_matching_jwk(self, token: str) -> Any:
        """The IdP's key for this token; a token of another algorithm or without kid is refused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Malformed token: {exc}") from exc
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"Token algorithm {header.get('alg')!r} is not allowed")
        if not isinstance(header.get("kid"), str):
            raise SuspiciousOperation("Token names no signing key (kid)")
        return super().retrieve_matching_jwk(token)

    def _verify_jws(self, payload: str, key: Any) -> dict[str, Any]:
        """Signature, algorithm, audience, issuer and lifetime (the library skips ``aud``)."""
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Malformed token: {exc}") from exc
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"Token algorithm {header.get('alg')!r} is not allowed")
        issuer = self.get_settings("OIDC_OP_ISSUER", "") or None
        required = ["exp", "iat", "aud", "sub", *(["iss"] if issuer else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=issuer,
                options={"require": required},
                leeway=30,
            )
        except jwt.InvalidTokenError as exc:
            raise SuspiciousOperation(f"Token refused: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SuspiciousOperation("Token has several audiences and another azp")
        return claims

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return (
            bool(claims.get("sub"))
            and bool(claims.get("email"))
            and (claims.get("email_verified") is not False)
        )

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        email = claims.get("email")
        if not email:
            return User.objects.none()
        return User.objects.filter(email__iexact=email)

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        claims: dict[str, Any] = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo and ID token name different subjects")
        if not self.verify_claims(claims):
            raise SuspiciousOperation("Claims verification failed (need sub and a verified email)")
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) > 1:
            raise SuspiciousOperation("Several users have this e-mail address")
        user = users[0] if users else None
        groups_claim = self.get_settings("OIDC_GROUPS_CLAIM", "groups")
        roles = roles_for_groups(claims.get(groups_claim))
        if not roles:
            if user is not None:
                set_roles(user, [])
            logger.info("SSO login refused: no mapped group", extra={"sub": claims.get("sub")})
            _refuse(self.request, NO_ROLE)
            raise PermissionDenied("None of this user's IdP groups maps to a role")
        with transaction.atomic():
            if user is None:
                user = self.create_user(claims)
            user = self.update_user(user, claims)
            set_roles(user, roles)
        return user

    def create_user(self, claims: dict[str, Any]) -> User:
        username = str(claims.get("preferred_username") or "").strip()[:150]
        if not username or User.objects.filter(username__iexact=username).exists():
            username = default_username_algo(claims["email"], claims)
        user = User(username=username, email=claims["email"])
        user.set_unusable_password()
        user.save()
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        first, last = claims.get("given_name"), claims.get("family_name")
        if not first and not last and claims.get("name"):
            first, _, last = str(claims["name"]).partition(" ")
        fields = {
            "email": str(claims["email"]),
            "first_name": str(first or "")[:150],
            "last_name": str(last or "")[:150],
        }
        changed = [name for name, value in fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, fields[name])
        if changed:
            user.save(update_fields=changed)
        return user


class SSOAuthenticateView(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("SSO is not configured")
        if not self.OIDC_OP_AUTH_ENDPOINT:
            request.session[REFUSAL_SESSION_KEY] = UNAVAILABLE
            return HttpResponseRedirect(settings.LOGIN_REDIRECT_URL_FAILURE)
        response: HttpResponse = super().get(request)
        return response


class SSOCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404("SSO is not configured")
        response: HttpResponse = super().get(request)
        return response

    def login_failure(self) -> HttpResponse:
        """No session survives a refused login or a failed re-check."""
        request: HttpRequest = self.request
        reason = getattr(
            request, REFUSAL_SESSION_KEY, IDP_ERROR if "error" in request.GET else INVALID
        )
        if request.user.is_authenticated:
            auth.logout(request)
        request.session[REFUSAL_SESSION_KEY] = reason
        response: HttpResponse = super().login_failure()
        return response


class SSOSessionRecheck(SessionRefresh):
    """Sends SSO sessions back to the IdP (``prompt=none``) every
    ``OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS``; the callback re-maps roles or logs the user out."""

    get_settings = staticmethod(oidc_setting)
    OIDC_OP_AUTHORIZATION_ENDPOINT: str

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        request.sso_enabled = True  # type: ignore[attr-defined]  # read by admin/login.html
        if not self.OIDC_OP_AUTHORIZATION_ENDPOINT:
            self.OIDC_OP_AUTHORIZATION_ENDPOINT = self.get_settings(
                "OIDC_OP_AUTHORIZATION_ENDPOINT"
            )
        response: HttpResponse | None = super().process_request(request)
        return response
