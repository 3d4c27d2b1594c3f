"""Staff sessions time out; denied requests are audited."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.access.audit import (
    LOGOUT_REASON_ATTR,
    Action,
    audit_record,
    bind_request,
    copy_admin_deletions_since,
    is_admin_bulk_delete,
    last_admin_log_entry_id,
)

LAST_ACTIVITY_KEY = "_audit_last_activity"
STARTED_KEY = "_audit_session_started"
AUDITED_PATH_PREFIXES = ("/admin/", "/api/")


class AuditMiddleware:
    """Binds the request for audit entries written while it is served (IP, request id),
    records a ``permission_denied`` entry for every 403 under /admin/ or /api/, and copies the
    deletions of the admin's "delete selected" action (logged without ``post_save``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with bind_request(request):
            bulk_delete_after = last_admin_log_entry_id() if is_admin_bulk_delete(request) else None
            response = self.get_response(request)
            if bulk_delete_after is not None:
                copy_admin_deletions_since(bulk_delete_after, request=request)
            if response.status_code == 403 and request.path.startswith(AUDITED_PATH_PREFIXES):
                audit_record(
                    action=Action.PERMISSION_DENIED,
                    actor=getattr(request, "user", None),
                    changes={"path": request.path, "method": request.method},
                    summary=f"{request.method} {request.path}",
                    request=request,
                )
        return response


class SessionTimeoutMiddleware:
    """Logs a user signed in through the session out after ``SESSION_IDLE_TIMEOUT_SECONDS``
    without a request, or ``SESSION_COOKIE_AGE`` seconds after sign-in whatever the activity. A
    timed-out API call gets 401 JSON; an admin page redirects to the login form; other pages go
    on anonymously.

    The last-activity stamp is rewritten at most every ``timeout / 10`` seconds (capped at a
    minute), so not every request saves the session. Requests authenticated per request (an API
    key, an OIDC bearer token: DRF sets ``request.user`` for them) are left alone, so they write
    no session and get no session cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = time.time()
        if self._signed_in_by_session(request):
            reason = self._expired(request, now)
            if reason:
                setattr(request, LOGOUT_REASON_ATTR, reason)
                logout(request)
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": "Your session has expired."}, status=401)
                if request.path.startswith("/admin/"):
                    return redirect_to_login(request.get_full_path())
        response = self.get_response(request)
        if self._signed_in_by_session(request):
            self._touch(request, now)
        return response

    @staticmethod
    def _signed_in_by_session(request: HttpRequest) -> bool:
        """Whether ``request.user`` is the user this session signed in (not an API key's or a
        bearer token's, which DRF puts on the request instead)."""
        user = request.user
        return user.is_authenticated and request.session.get(SESSION_KEY) == str(user.pk)

    @staticmethod
    def _expired(request: HttpRequest, now: float) -> str:
        idle_limit = settings.SESSION_IDLE_TIMEOUT_SECONDS
        last = request.session.get(LAST_ACTIVITY_KEY)
        if isinstance(last, int | float) and now - last > idle_limit:
            return f"Session idle for more than {idle_limit} s."
        started = request.session.get(STARTED_KEY)
        if isinstance(started, int | float) and now - started > settings.SESSION_COOKIE_AGE:
            return f"Session older than {settings.SESSION_COOKIE_AGE} s."
        return ""

    @staticmethod
    def _touch(request: HttpRequest, now: float) -> None:
        session = request.session
        if STARTED_KEY not in session:
            session[STARTED_KEY] = now
        interval = min(60.0, settings.SESSION_IDLE_TIMEOUT_SECONDS / 10)
        last = session.get(LAST_ACTIVITY_KEY)
        if not isinstance(last, int | float) or now - last >= interval:
            session[LAST_ACTIVITY_KEY] = now


def restart_session_clock(sender: object, request: HttpRequest | None, **kwargs: object) -> None:
    """``user_logged_in`` receiver: the absolute and idle timeouts count from this sign-in."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[STARTED_KEY] = now
        request.session[LAST_ACTIVITY_KEY] = now
