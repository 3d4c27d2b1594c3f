"""Lets integrations write to the staff audit log without importing accounts.

``accounts`` registers its recorder at start-up (``AccountsConfig.ready``); until then, and in a
project without it, ``audit`` does nothing.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_recorder: Callable[..., Any] | None = None
_acting_as: ContextVar[str] = ContextVar("audit_acting_as", default="")


def register_audit_recorder(recorder: Callable[..., Any]) -> None:
    global _recorder
    _recorder = recorder


@contextmanager
def acting_as(label: str) -> Iterator[None]:
    """Entries recorded meanwhile without a staff actor name ``label`` as who acted (e.g. the OS
    user running a management command) instead of "system"."""
    token = _acting_as.set(label)
    try:
        yield
    finally:
        _acting_as.reset(token)


def os_user_label() -> str:
    """Who runs this process, for the audit log: ``os:<user>``, ``os:<user> (sudo by <caller>)``
    under sudo (management commands act as this through ``acting_as``)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    caller = os.environ.get("SUDO_USER", "")
    return f"os:{user}" + (f" (sudo by {caller})" if caller and caller != user else "")


def audit(
    action: str,
    *,
    actor: Any = None,
    obj: Any = None,
    changes: dict[str, Any] | None = None,
    request: Any = None,
) -> None:
    """Record ``action`` in the audit log through the registered recorder, if any."""
    if _recorder is not None:
        label = _acting_as.get() if actor is None else ""
        _recorder(
            action=action,
            actor=actor,
            obj=obj,
            changes=changes,
            request=request,
            **({"actor_label": label} if label else {}),
        )
