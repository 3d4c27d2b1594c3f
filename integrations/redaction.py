"""Keeps secrets out of log lines: a structlog processor (in every logging chain, see
``config/settings/logging.py``) that scrubs the credential values this process has handled
(``remember_secret``, called by ``integrations.credentials``) and the value of any field named
like a token or secret. Imports nothing from Django, so settings can load it."""

from __future__ import annotations

import re
import threading
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 8
SECRET_FIELD_NAMES = re.compile(
    r"access_token|refresh_token|secret|passw|authorization|credential", re.IGNORECASE
)

_lock = threading.Lock()
_known: set[str] = set()


def remember_secret(value: str) -> None:
    """From now on, ``value`` is scrubbed from every log line of this process."""
    if len(value) >= MIN_REDACTED_LENGTH:
        with _lock:
            _known.add(value)


def known_secret_values() -> tuple[str, ...]:
    """Every secret remembered by this process, longest first."""
    with _lock:
        return tuple(sorted(_known, key=len, reverse=True))


def _secret_field(key: Any, value: Any) -> bool:
    return isinstance(key, str) and bool(SECRET_FIELD_NAMES.search(key)) and bool(value)


def scrub(value: Any, known: tuple[str, ...] | None = None) -> Any:
    """``value`` (text, or dicts and lists of it) without any remembered secret."""
    known = known_secret_values() if known is None else known
    if isinstance(value, str):
        for secret in known:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: REDACTED if _secret_field(k, v) else scrub(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, known) for v in value)
    return value


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: see the module docstring."""
    known = known_secret_values()
    for key in list(event_dict):
        value = event_dict[key]
        event_dict[key] = REDACTED if _secret_field(key, value) else scrub(value, known)
    return event_dict
