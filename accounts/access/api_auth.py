"""OIDC bearer tokens on the API: ``Authorization: Bearer <JWT access token from our IdP>``.

The token is checked here, without calling the IdP per request: a JWT access token (RFC 9068,
header ``typ`` in ``OIDC_API_TOKEN_TYPES``) signed RS256 by a key in the IdP's JWKS (fetched and
cached), with our issuer, a lifetime, and ``aud`` containing ``OIDC_API_AUDIENCE``. A token the
IdP issued for another app (another audience), an ID token, an opaque token or a forged one
answers 401. The user behind it is found by ``(iss, sub)`` and its groups claim mapped to roles
as at an SSO login (``accounts.access.oidc.sso_user_for_claims``): a token of someone with no mapped
role answers 403 (and takes their roles away here); a token issued before the IdP's last
statement about the user may take roles away but never add them back. When SSO is not
configured the class does nothing (returns None).
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, status
from rest_framework.request import Request

from accounts.access.oidc import _timestamp, oidc_setting, sso_enabled, sso_user_for_claims
from accounts.models import User

ALGORITHM = "RS256"
LEEWAY_SECONDS = 30


class IdpUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The identity provider cannot be reached to check this token."
    default_code = "idp_unavailable"


# One key client per JWKS URL: the key set is cached (5 min) and re-read for an unknown kid.
_JWKS_CLIENTS: dict[str, jwt.PyJWKClient] = {}


def _jwks_client(url: str) -> jwt.PyJWKClient:
    client = _JWKS_CLIENTS.get(url)
    if client is None:
        client = _JWKS_CLIENTS[url] = jwt.PyJWKClient(
            url, timeout=float(getattr(settings, "OIDC_TIMEOUT", 10)), cooldown_duration=5
        )
    return client


def verify_access_token(token: str) -> dict[str, Any]:
    """The claims of a JWT access token our IdP issued for our API audience.

    Raises SuspiciousOperation for any token that is not one (malformed, opaque, wrong type,
    algorithm, signature, issuer or audience, expired), IdpUnavailable when the IdP's keys
    cannot be read."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise SuspiciousOperation(f"Not a JWT access token: {exc}") from exc
    types = {t.lower() for t in getattr(settings, "OIDC_API_TOKEN_TYPES", ["at+jwt"])}
    if str(header.get("typ", "")).lower() not in types:
        raise SuspiciousOperation(f"Token type {header.get('typ')!r} is not an access token")
    if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
        raise SuspiciousOperation("Token algorithm or key id not allowed")
    issuer = oidc_setting("OIDC_OP_ISSUER", "")
    jwks_url = oidc_setting("OIDC_OP_JWKS_ENDPOINT", "")
    audience = getattr(settings, "OIDC_API_AUDIENCE", "") or oidc_setting("OIDC_RP_CLIENT_ID")
    if not issuer or not jwks_url:
        raise IdpUnavailable()
    try:
        key = _jwks_client(jwks_url).get_signing_key(header["kid"])
    except jwt.PyJWKClientConnectionError as exc:
        raise IdpUnavailable() from exc
    except jwt.PyJWKClientError as exc:
        raise SuspiciousOperation(f"No IdP key for this token: {exc}") from exc
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.InvalidTokenError as exc:
        raise SuspiciousOperation(f"Token refused: {exc}") from exc
    if claims["iat"] > time.time() + LEEWAY_SECONDS:
        raise SuspiciousOperation("Token issued in the future")
    return claims


class OIDCBearerAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>``; active only when SSO is configured."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, str] | None:
        if not sso_enabled():
            return None
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed bearer token.")
        try:
            access_token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed bearer token.") from exc
        try:
            claims = verify_access_token(access_token)
            user = sso_user_for_claims(
                issuer=str(claims["iss"]),
                claims=claims,
                stated_at=_timestamp(claims.get("iat")),
                source="oidc-bearer",
                authoritative=False,
            )
        except SuspiciousOperation as exc:
            raise exceptions.AuthenticationFailed("Access token refused.") from exc
        except PermissionDenied as exc:
            raise exceptions.PermissionDenied(
                "None of this user's IdP groups maps to a role here."
            ) from exc
        if not user.is_active:
            raise exceptions.AuthenticationFailed("No active user for this access token.")
        return user, access_token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class OIDCBearerScheme(OpenApiAuthenticationExtension):
    """Documents the OIDC bearer scheme in the OpenAPI schema (drf-spectacular)."""

    target_class = "accounts.access.api_auth.OIDCBearerAuthentication"
    name = "OIDCBearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "`Bearer <access token>`: a JWT access token issued by the staff identity "
                "provider (SSO) for this API's audience, checked against the IdP's signing keys; "
                "the user's IdP groups must map to a role. Only accepted when SSO is configured."
            ),
        }
