"""Break-glass password login (config/settings/security.py): who may sign in with a password.

``PasswordLoginBackend`` replaces Django's ``ModelBackend``. It refuses, before looking at the
password:

- a username+IP that failed ``PASSWORD_LOGIN_MAX_FAILURES`` times within
  ``PASSWORD_LOGIN_LOCKOUT_SECONDS`` (a fixed window in the cache, counted by this backend, so it
  covers Django's admin login form and allauth's login alike, even with the right password).
  The IP is ``accounts.access.audit.client_ip`` (X-Forwarded-For only behind ``TRUSTED_PROXY_COUNT``
  proxies, and then only their hop), so failures lock out the address they came from and no
  other; allauth's own failed-login limits count per login and that IP too (``accounts.access.adapters``);
- a user outside ``PASSWORD_LOGIN_ROLES`` (superusers count as ``admin``): they use SSO;
- with ``PASSWORD_LOGIN_REQUIRES_MFA``, a user without a TOTP authenticator (allauth MFA). The
  TOTP code itself is asked by allauth's login flow, the only password login then
  (``/admin/login/`` redirects to it, see ``admin_login``).

Refusals end authentication (``PermissionDenied``), so Django sends ``user_login_failed`` and the
audit log records them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse

from accounts.access.audit import client_ip
from accounts.access.roles import ADMIN
from accounts.access.saml import saml_login_url
from accounts.models import User

LOCKOUT_CACHE_PREFIX = "password-login-failures"


def password_login_roles() -> set[str]:
    return set(getattr(settings, "PASSWORD_LOGIN_ROLES", [ADMIN]))


def mfa_required() -> bool:
    return bool(getattr(settings, "PASSWORD_LOGIN_REQUIRES_MFA", True))


def may_use_password(user: User) -> bool:
    """Whether ``user``'s roles let them sign in with a password."""
    allowed = password_login_roles()
    if user.is_superuser and ADMIN in allowed:
        return True
    return user.groups.filter(name__in=allowed).exists()


def has_totp(user: User) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def _lockout_key(username: str, request: HttpRequest | None) -> str:
    ip = (client_ip(request) if request is not None else None) or "-"
    digest = hashlib.sha256(f"{username.lower()}|{ip}".encode()).hexdigest()
    return f"{LOCKOUT_CACHE_PREFIX}:{digest}"


def is_locked_out(username: str, request: HttpRequest | None) -> bool:
    limit = int(getattr(settings, "PASSWORD_LOGIN_MAX_FAILURES", 5))
    return int(cache.get(_lockout_key(username, request), 0)) >= limit


def record_failure(username: str, request: HttpRequest | None) -> None:
    """Count one failure in the window that the first failure opened."""
    key = _lockout_key(username, request)
    window = int(getattr(settings, "PASSWORD_LOGIN_LOCKOUT_SECONDS", 15 * 60))
    if cache.add(key, 1, timeout=window):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired in between
        cache.add(key, 1, timeout=window)


class PasswordLoginBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        if is_locked_out(username, request):
            raise PermissionDenied("Too many failed logins; try again later.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(username, request)
            return None
        if not may_use_password(user) or (mfa_required() and not has_totp(user)):
            record_failure(username, request)
            raise PermissionDenied("Password login is not allowed for this user.")
        return user

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        # ModelBackend's own async version would skip the checks above.
        return await sync_to_async(self.authenticate)(
            request, username=username, password=password, **kwargs
        )


def admin_login(request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
    """``/admin/login/``: Django's admin form (with "Sign in with SAML" when a SAML IdP is
    configured), or, when password logins need MFA, a redirect to allauth's login (which asks
    for the TOTP code) keeping ``next``."""
    if not mfa_required():
        # allauth checks ``next`` again when the SAML login comes back.
        saml_url = saml_login_url(next_url=request.GET.get("next", ""))
        return admin.site.login(request, {**(extra_context or {}), "saml_login_url": saml_url})
    query = QueryDict(mutable=True)
    query["next"] = request.GET.get("next") or reverse("admin:index")
    return HttpResponseRedirect(f"{reverse('account_login')}?{query.urlencode()}")
