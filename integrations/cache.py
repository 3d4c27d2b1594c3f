"""Django's Redis cache, degrading to an empty cache that keeps nothing while Redis is down.

With Redis unreachable, or too slow to answer within the socket timeouts, reads miss and writes
are dropped, so the API throttles let requests through instead of every API call answering 500.
The same holds for the password-login lockout counters (accounts/access/auth.py): while Redis is down,
failed logins are not counted. Only connection errors and timeouts degrade; any other Redis
error (a wrong command, a full memory) still raises.

Connect and read timeouts default to ``DEFAULT_SOCKET_TIMEOUT_SECONDS`` (``OPTIONS``
``socket_connect_timeout`` / ``socket_timeout`` override them), so a dead Redis costs each cache
call at most the connect plus the read timeout. A ``cache.unavailable`` warning names the error class and the servers
(without credentials) at most once every ``OPTIONS["UNAVAILABLE_WARNING_SECONDS"]`` (default
60) per process and server list, with the count of failures it stayed silent about.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = structlog.get_logger(__name__)

# ConnectionError covers a refused or reset connection, DNS failures, a server still loading its
# data and a refused AUTH; TimeoutError a connect or read that took longer than the timeouts.
UNAVAILABLE_ERRORS = (RedisConnectionError, RedisTimeoutError)
DEFAULT_SOCKET_TIMEOUT_SECONDS = 0.5
DEFAULT_WARNING_INTERVAL_SECONDS = 60.0

T = TypeVar("T")

# Per process, shared by the per-thread cache instances: when each server list was last warned
# about, and how many failures have gone unreported since.
_warned_at: dict[str, float] = {}
_unreported: dict[str, int] = {}
_warning_lock = threading.Lock()


def _without_credentials(location: str) -> str:
    """``scheme://host:port/db`` of a Redis URL: no user, password or query string."""
    try:
        parts = urlsplit(location)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable redis url>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class DegradingRedisCache(RedisCache):
    """``RedisCache`` that behaves as an empty, unwritable cache while Redis is unreachable:
    ``get`` returns the default, ``get_many`` ``{}``; ``add``, ``touch``, ``delete`` and
    ``has_key`` return False; ``incr`` and ``decr`` raise ValueError (the key is missing);
    ``set_many`` reports every key as not stored; ``set``, ``delete_many`` and ``clear`` do
    nothing. Never raises for an unavailable Redis; other Redis errors propagate."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        self._warning_interval = float(
            options.pop("UNAVAILABLE_WARNING_SECONDS", DEFAULT_WARNING_INTERVAL_SECONDS)
        )
        options.setdefault("socket_connect_timeout", DEFAULT_SOCKET_TIMEOUT_SECONDS)
        options.setdefault("socket_timeout", DEFAULT_SOCKET_TIMEOUT_SECONDS)
        super().__init__(server, {**params, "OPTIONS": options})
        servers = re.split("[;,]", server) if isinstance(server, str) else server  # as RedisCache
        self._servers_for_log = ",".join(_without_credentials(s) for s in servers)

    def _degrade(self, operation: str, fallback: T, call: Callable[..., T], *args: Any) -> T:
        try:
            return call(*args)
        except UNAVAILABLE_ERRORS as exc:
            self._warn_unavailable(operation, exc)
            return fallback

    def _warn_unavailable(self, operation: str, exc: Exception) -> None:
        where = self._servers_for_log
        now = time.monotonic()
        with _warning_lock:
            last = _warned_at.get(where)
            if last is not None and now - last < self._warning_interval:
                _unreported[where] = _unreported.get(where, 0) + 1
                return
            _warned_at[where] = now
            unreported = _unreported.pop(where, 0)
        log.warning(
            "cache.unavailable",
            error=type(exc).__name__,
            operation=operation,
            servers=where,
            unreported_failures=unreported,
        )

    def add(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        return self._degrade("add", False, super().add, key, value, timeout, version)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._degrade("get", default, super().get, key, default, version)

    def set(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        self._degrade("set", None, super().set, key, value, timeout, version)

    def touch(
        self, key: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._degrade("touch", False, super().touch, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._degrade("delete", False, super().delete, key, version)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return self._degrade("get_many", {}, super().get_many, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._degrade("has_key", False, super().has_key, key, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except UNAVAILABLE_ERRORS as exc:
            self._warn_unavailable("incr", exc)
            raise ValueError(f"Key '{key}' not found.") from exc

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        return self._degrade("set_many", list(data), super().set_many, data, timeout, version)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._degrade("delete_many", None, super().delete_many, keys, version)

    def clear(self) -> None:
        self._degrade("clear", None, super().clear)
