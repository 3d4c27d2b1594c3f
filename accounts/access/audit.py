"""The staff audit log: ``audit_record`` and the receivers that feed it.

Transactions: an entry is written on the caller's connection, at once. Inside a transaction
(an admin save, a refund decision) it therefore commits or rolls back with the action it
describes: no entry for a change that did not happen, no change without its entry. Denials and
failed logins are recorded from places that are not inside a transaction (the response
middleware, Django's auth signals), so they are kept although the attempt failed.

Sources: logins, failed logins and logouts from Django's auth signals (the admin login form and
SSO alike); admin adds, changes and deletions from Django's own admin ``LogEntry`` (every
ModelAdmin writes one), with before/after values where an admin staged them
(``stage_admin_changes``); denials from ``accounts.access.middleware.AuditMiddleware``; webhook replays
through ``integrations.audit_hook``; refund decisions from ``payments.services``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.http import HttpRequest

from accounts.models import AuditLogEntry, User

Action = AuditLogEntry.Action

SECRET_FIELD = re.compile(r"password|token|secret|key_hash|api_key|otp", re.IGNORECASE)
SYSTEM = "system"

_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
_STAGED_ATTR = "_audit_staged_changes"
_COPIED_ATTR = "_audit_copied_log_entries"
LOGOUT_REASON_ATTR = "_audit_logout_reason"


@contextmanager
def bind_request(request: HttpRequest) -> Iterator[None]:
    """Make ``request`` the one whose IP and request id entries written meanwhile carry."""
    token = _current_request.set(request)
    try:
        yield
    finally:
        _current_request.reset(token)


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address ``TRUSTED_PROXY_COUNT`` proxies from the right of
    X-Forwarded-For when the site sits behind that many proxies (never trust it otherwise)."""
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if trusted > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= trusted:
            return _valid_ip(hops[-trusted])
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


def _valid_ip(value: str) -> str | None:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_ipv46_address

    try:
        validate_ipv46_address(value)
    except ValidationError:
        return None
    return value


def without_secrets(changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """``changes`` minus every field whose name looks like a secret."""
    return {k: v for k, v in (changes or {}).items() if not SECRET_FIELD.search(str(k))}


def values_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for the fields whose value differs (secrets left out)."""
    fields = [*before, *(k for k in after if k not in before)]
    return without_secrets(
        {f: [before.get(f), after.get(f)] for f in fields if before.get(f) != after.get(f)}
    )


def _actor_fields(actor: Any, actor_label: str) -> tuple[User | None, str]:
    if isinstance(actor, User):
        return actor, actor_label or actor.get_username()
    if actor is not None and getattr(actor, "is_authenticated", False):
        return None, actor_label or str(getattr(actor, "username", "") or actor)
    return None, actor_label


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_label: str = "",
    obj: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    summary: str = "",
    request: HttpRequest | None = None,
) -> AuditLogEntry:
    """Append one entry, on the caller's connection and in its transaction (see the module).

    ``actor`` is a staff user, an API-key user or anonymous/None; without an actor or a request
    the entry is the system's. ``request`` defaults to the one being served. Fields named like
    secrets are dropped from ``changes``. Raises only on a database error."""
    request = request if request is not None else _current_request.get()
    user, label = _actor_fields(actor, actor_label)
    if user is None and not label and request is None:
        label = SYSTEM
    entry = AuditLogEntry(
        action=action,
        actor=user,
        actor_label=label[:150],
        changes=without_secrets(changes),
        summary=summary[:500],
    )
    if obj is not None:
        entry.object_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        entry.object_id = str(obj.pk)
        entry.object_label = str(obj)[:200]
    if request is not None:
        entry.ip = client_ip(request)
        entry.request_id = str(getattr(request, "request_id", ""))[:128]
    entry.save()
    return entry


def stage_admin_changes(request: HttpRequest, obj: models.Model, changes: dict[str, Any]) -> None:
    """Before/after values for the admin entry about to be written for ``obj`` in this request
    (a ModelAdmin's ``save_model`` calls this; the LogEntry receiver picks them up)."""
    staged = request.__dict__.setdefault(_STAGED_ATTR, {})
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    staged[(content_type.pk, str(obj.pk))] = changes


# --- receivers (connected in AccountsConfig.ready) ---------------------------------------------


def on_user_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(action=Action.LOGIN, actor=user, request=request)


def on_user_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    reason = getattr(request, LOGOUT_REASON_ATTR, "") if request is not None else ""
    audit_record(action=Action.LOGOUT, actor=user, summary=reason, request=request)


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    tried = str(credentials.get("username") or credentials.get(User.USERNAME_FIELD) or "")
    audit_record(
        action=Action.LOGIN_FAILED,
        actor_label=tried or "(no username)",
        request=request,
    )


_ADMIN_ACTIONS = {
    ADDITION: Action.ADMIN_ADD,
    CHANGE: Action.ADMIN_CHANGE,
    DELETION: Action.ADMIN_DELETE,
}


def on_admin_log_entry(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Django's admin writes a LogEntry for each add, change and deletion; copy it."""
    if created:
        copy_admin_log_entry(instance, request=_current_request.get())


def copy_admin_log_entry(instance: LogEntry, *, request: HttpRequest | None) -> None:
    """Append the audit entry for one admin LogEntry (once per request and LogEntry)."""
    copied: set[int] = request.__dict__.setdefault(_COPIED_ATTR, set()) if request else set()
    if instance.pk in copied:
        return
    copied.add(instance.pk)
    staged: dict[tuple[int | None, str], dict[str, Any]] = (
        request.__dict__.get(_STAGED_ATTR, {}) if request is not None else {}
    )
    changes = staged.pop((instance.content_type_id, str(instance.object_id)), None) or {}
    actor: Any = instance.user
    entry = AuditLogEntry(
        action=_ADMIN_ACTIONS.get(instance.action_flag, Action.ADMIN_CHANGE),
        actor_id=instance.user_id,
        actor_label=str(actor.get_username())[:150],
        object_type_id=instance.content_type_id,
        object_id=str(instance.object_id or "")[:64],
        object_label=instance.object_repr[:200],
        changes=without_secrets(changes),
        summary=str(instance.get_change_message())[:500],
    )
    if request is not None:
        entry.ip = client_ip(request)
        entry.request_id = str(getattr(request, "request_id", ""))[:128]
    entry.save()


def is_admin_bulk_delete(request: HttpRequest) -> bool:
    """The confirmed "delete selected" action: Django logs its deletions with ``bulk_create``
    when there are several, which sends no ``post_save``."""
    return (
        request.method == "POST"
        and request.path.startswith("/admin/")
        and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
        and request.POST.get("action") == "delete_selected"
        and request.POST.get("post") == "yes"
    )


def last_admin_log_entry_id() -> int:
    return LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def copy_admin_deletions_since(log_entry_id: int, *, request: HttpRequest) -> None:
    """Copy the deletions this request's user logged after ``log_entry_id``."""
    user_id = getattr(getattr(request, "user", None), "pk", None)
    if user_id is None:
        return
    for instance in LogEntry.objects.filter(
        pk__gt=log_entry_id, user_id=user_id, action_flag=DELETION
    ).select_related("user"):
        copy_admin_log_entry(instance, request=request)
