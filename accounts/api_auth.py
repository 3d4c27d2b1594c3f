"""OIDC bearer tokens on the API: ``Authorization: Bearer <access token from our IdP>``.

mozilla-django-oidc's DRF authentication, with our SSO backend: the token is checked by calling
the IdP's userinfo endpoint with it, and the user behind it goes through the same role mapping as
an SSO login (``SSO_GROUP_ROLE_MAP``). A valid token of someone with no mapped role answers 403
(and, as at an SSO login, takes their staff access and roles away here); an invalid, expired or
forged token answers 401. When SSO is not configured the class does nothing (returns None).
"""

from __future__ import annotations

from typing import Any

import requests
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, SuspiciousOperation
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from mozilla_django_oidc.contrib.drf import OIDCAuthentication  # type: ignore[import-untyped]
from mozilla_django_oidc.utils import parse_www_authenticate_header  # type: ignore[import-untyped]
from rest_framework import authentication, exceptions, status
from rest_framework.request import Request

from accounts.models import User
from accounts.oidc import StaffOIDCBackend, sso_enabled


class IdpUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The identity provider cannot be reached to check this token."
    default_code = "idp_unavailable"


class BearerOIDCBackend(StaffOIDCBackend):
    """The SSO backend for a bearer token: there is no ID token, userinfo is the only source."""

    _userinfo: dict[str, Any] | None = None

    def get_userinfo(self, access_token: str, id_token: Any, payload: Any) -> dict[str, Any]:
        if self._userinfo is None:
            claims: Any = super().get_userinfo(access_token, id_token, payload)
            if not isinstance(claims, dict):
                raise SuspiciousOperation("userinfo is not a JSON object")
            self._userinfo = claims
        return self._userinfo

    def get_or_create_user(
        self, access_token: str, id_token: Any, payload: dict[str, Any] | None
    ) -> User | None:
        if payload is None:
            payload = {"sub": self.get_userinfo(access_token, None, None).get("sub")}
        return super().get_or_create_user(access_token, id_token, payload)


class OIDCBearerAuthentication(OIDCAuthentication):
    """``Authorization: Bearer <access token>``; active only when SSO is configured."""

    def __init__(self, backend: BearerOIDCBackend | None = None) -> None:
        # DRF builds authenticators on every request: build the backend only when a token comes.
        self.backend = backend

    def get_access_token(self, request: Request) -> str | None:
        header = authentication.get_authorization_header(request)
        if not header.split():
            return None
        token: str | None = super().get_access_token(request)
        return token

    def authenticate(self, request: Request) -> tuple[User, str] | None:
        if not sso_enabled():
            return None
        access_token = self.get_access_token(request)
        if not access_token:
            return None
        try:
            backend = self.backend or BearerOIDCBackend()
        except ImproperlyConfigured as exc:  # IdP endpoints unknown: discovery failed
            raise IdpUnavailable() from exc
        backend.request = request._request
        try:
            user = backend.get_or_create_user(access_token, None, None)
        except requests.HTTPError as exc:
            response = exc.response
            if response is not None and response.status_code in (400, 401, 403):
                detail = "Invalid or expired access token."
                if "www-authenticate" in response.headers:
                    data = parse_www_authenticate_header(response.headers["www-authenticate"])
                    detail = data.get("error_description") or detail
                raise exceptions.AuthenticationFailed(detail) from exc
            raise IdpUnavailable() from exc
        except requests.RequestException as exc:
            raise IdpUnavailable() from exc
        except SuspiciousOperation as exc:
            raise exceptions.AuthenticationFailed("Access token refused.") from exc
        except PermissionDenied as exc:
            raise exceptions.PermissionDenied(
                "None of this user's IdP groups maps to a role here."
            ) from exc
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("No active user for this access token.")
        if not user.is_staff:
            raise exceptions.PermissionDenied("This user has no staff access.")
        return user, access_token


class OIDCBearerScheme(OpenApiAuthenticationExtension):
    """Documents the OIDC bearer scheme in the OpenAPI schema (drf-spectacular)."""

    target_class = "accounts.api_auth.OIDCBearerAuthentication"
    name = "OIDCBearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "`Bearer <access token>` issued by the staff identity provider (SSO); checked "
                "at its userinfo endpoint, and the user's IdP groups must map to a role. "
                "Only accepted when SSO is configured."
            ),
        }
