"""Lets integrations write to the staff audit log without importing accounts.

``accounts`` registers its recorder at start-up (``AccountsConfig.ready``); until then, and in a
project without it, ``audit`` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_recorder: Callable[..., Any] | None = None


def register_audit_recorder(recorder: Callable[..., Any]) -> None:
    global _recorder
    _recorder = recorder


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
        _recorder(action=action, actor=actor, obj=obj, changes=changes, request=request)
