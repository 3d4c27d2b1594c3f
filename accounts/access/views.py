"""Staff-facing pages outside the admin: SSO refusals, logout (here and at the IdP)."""

from __future__ import annotations

from allauth.account.views import logout as allauth_logout
from django.contrib import admin, auth
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from accounts.access.audit import LOGOUT_REASON_ATTR
from accounts.access.oidc import (
    INVALID,
    NO_ROLE,
    REFUSAL_SESSION_KEY,
    UNAVAILABLE,
    oidc_logout_url,
    sso_enabled,
)
from accounts.access.saml import saml_logout_url

_MESSAGES = {
    NO_ROLE: (
        "Your identity provider account is not in any group that gives access to Switchboard. "
        "Ask an administrator to add you to one of the Switchboard groups, then sign in again."
    ),
    INVALID: (
        "The sign-in answer from the identity provider could not be verified, so it was refused."
    ),
    UNAVAILABLE: "The identity provider cannot be reached right now. Try again in a moment.",
}
_DEFAULT = (
    "Single sign-on did not complete, or your session ended at the identity provider. "
    "Sign in again."
)


def sso_no_access(request: HttpRequest) -> HttpResponse:
    """Where a refused SSO login lands: says why, and that no session was opened."""
    reason = request.session.pop(REFUSAL_SESSION_KEY, "")
    context = {
        "reason": reason,
        "message": _MESSAGES.get(reason, _DEFAULT),
        "sso_enabled": sso_enabled(),
        "site_header": "Switchboard",
    }
    return render(request, "accounts/sso_no_access.html", context, status=403)


def sso_signed_out(request: HttpRequest) -> HttpResponse:
    """Where the IdP sends the browser back after ending its session too."""
    context = {"sso_enabled": sso_enabled(), "site_header": "Switchboard"}
    return render(request, "accounts/sso_signed_out.html", context)


def _sso_logout(request: HttpRequest) -> HttpResponse | None:
    """For a POST from an SSO session: end the session here, then send the browser to the IdP to
    end the session there too (OIDC end-session, or SAML single logout). None otherwise."""
    if request.method != "POST" or not request.user.is_authenticated:
        return None
    return_to = request.build_absolute_uri(reverse("sso-signed-out"))
    url = oidc_logout_url(request, return_to) or saml_logout_url(request, return_to)
    if url is None:
        return None
    setattr(request, LOGOUT_REASON_ATTR, "Signed out; sent to the identity provider to sign out.")
    auth.logout(request)
    return HttpResponseRedirect(url)


def admin_logout(request: HttpRequest) -> HttpResponse:
    """``/admin/logout/``: the admin's own logout, which for SSO sessions ends at the IdP."""
    response: HttpResponse = _sso_logout(request) or admin.site.logout(request)
    return response


def account_logout(request: HttpRequest) -> HttpResponse:
    """``/accounts/logout/``: allauth's logout (its confirmation page on GET), which for SSO
    sessions ends at the IdP."""
    response: HttpResponse = _sso_logout(request) or allauth_logout(request)
    return response
