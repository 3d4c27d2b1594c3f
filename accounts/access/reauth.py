"""Re-authentication before sensitive actions (approving a refund above the dual-approval
threshold): the user must have entered their password, or completed an SSO login, within
``SENSITIVE_ACTION_REAUTH_SECONDS``.

The time of the last such proof is kept in the session. Every login counts (a password login at
the admin login page, or an SSO callback that logs the user in: ``user_logged_in``); so does the
password form at ``/admin/reauth/``. Users who sign in through SSO re-authenticate with a fresh SSO
login: ``/admin/reauth/sso/`` ends the current session and sends them to the IdP with
``prompt=login``; the callback then logs them in again, which marks the new session fresh. (The
SSO session re-check with ``prompt=none`` does not log the user in again, so it does not count.)
``MAX_FAILURES`` wrong passwords in a row at the form end the session.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, auth
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.access.oidc import SSOAuthenticateView, sso_enabled
from accounts.models import User

SESSION_KEY = "reauth_at"
FAILURES_SESSION_KEY = "reauth_failures"
# Wrong passwords in a row at the re-auth form before the session is ended (no guessing from a
# hijacked session).
MAX_FAILURES = 5
DEFAULT_MAX_AGE_SECONDS = 300


def reauth_max_age() -> int:
    return int(getattr(settings, "SENSITIVE_ACTION_REAUTH_SECONDS", DEFAULT_MAX_AGE_SECONDS))


def reauth_mark(request: HttpRequest) -> None:
    """Record that the user of this session just proved who they are."""
    request.session[SESSION_KEY] = time.time()


def reauth_stamp(request: HttpRequest) -> datetime | None:
    """When this session's user last proved who they are (aware UTC), or None. Services that
    need a fresh re-authentication take this as ``reauthenticated_at``."""
    stamp = request.session.get(SESSION_KEY)
    if not isinstance(stamp, int | float) or isinstance(stamp, bool):
        return None
    try:
        return datetime.fromtimestamp(stamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def reauth_is_fresh_at(reauthenticated_at: datetime | None) -> bool:
    """Whether a re-authentication at ``reauthenticated_at`` is at most
    ``SENSITIVE_ACTION_REAUTH_SECONDS`` old (and not in the future)."""
    if reauthenticated_at is None:
        return False
    age = (timezone.now() - reauthenticated_at).total_seconds()
    return 0 <= age <= reauth_max_age()


def reauth_is_fresh(request: HttpRequest) -> bool:
    """Whether this session's user re-authenticated within ``SENSITIVE_ACTION_REAUTH_SECONDS``."""
    return reauth_is_fresh_at(reauth_stamp(request))


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def reauth_url(next_url: str) -> str:
    return f"{reverse('reauth')}?{urlencode({'next': next_url})}"


def reauth_required_redirect(request: HttpRequest, next_url: str) -> HttpResponseRedirect:
    """Where a sensitive action sends a session that is not fresh (nothing has been done)."""
    return HttpResponseRedirect(reauth_url(next_url))


@receiver(user_logged_in, dispatch_uid="reauth_fresh_login")
def on_user_logged_in(
    sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any
) -> None:
    """A login (password or SSO callback) is a fresh authentication."""
    if request is not None and hasattr(request, "session"):
        reauth_mark(request)


class PasswordReauthForm(forms.Form):
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


def reauth_view(request: HttpRequest) -> HttpResponse:
    """``/admin/reauth/?next=...``: confirm the password (or start a fresh SSO login)."""
    user = request.user
    if not isinstance(user, User):  # admin_view lets only signed-in staff users in
        raise PermissionDenied("Sign in first.")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    can_password = user.has_usable_password()
    form = PasswordReauthForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and can_password and form.is_valid():
        if user.check_password(form.cleaned_data["password"]):
            request.session.pop(FAILURES_SESSION_KEY, None)
            reauth_mark(request)
            return HttpResponseRedirect(next_url)
        user_login_failed.send(
            sender=__name__, credentials={"username": user.get_username()}, request=request
        )
        failures = int(request.session.get(FAILURES_SESSION_KEY, 0)) + 1
        if failures >= MAX_FAILURES:
            auth.logout(request)
            return HttpResponseRedirect(reverse("admin:login"))
        request.session[FAILURES_SESSION_KEY] = failures
        form.add_error("password", "That password is not correct.")
    context = {
        **admin.site.each_context(request),
        "title": "Confirm it's you",
        "form": form,
        "next": next_url,
        "can_password": can_password,
        "can_sso": sso_enabled(),
        "max_age_minutes": max(reauth_max_age() // 60, 1),
    }
    return TemplateResponse(request, "accounts/reauth.html", context)


class SSOReauthenticateView(SSOAuthenticateView):
    """The SSO login start, asking the IdP to make the user sign in again (``prompt=login``)."""

    def get_extra_params(self, request: HttpRequest) -> dict[str, Any]:
        params: dict[str, Any] = {**super().get_extra_params(request), "prompt": "login"}
        return params


@require_POST
def reauth_sso_view(request: HttpRequest) -> HttpResponse:
    """End this session and start a fresh SSO login that comes back to ``next``."""
    if not sso_enabled():
        raise Http404("SSO is not configured")
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    auth.logout(request)
    query = request.GET.copy()
    query["next"] = next_url  # where the SSO callback sends the user (oidc_login_next)
    request.GET = query  # type: ignore[assignment]
    view = SSOReauthenticateView()
    view.setup(request)
    response: HttpResponse = view.get(request)
    return response
