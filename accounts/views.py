"""Staff-facing pages outside the admin."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.oidc import INVALID, NO_ROLE, REFUSAL_SESSION_KEY, UNAVAILABLE, sso_enabled

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
