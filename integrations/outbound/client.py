"""The one HTTP client every provider adapter uses.

``ProviderClient.request`` sends one logical call and promises:

* connect and read timeouts on every attempt (``OUTBOUND_*_TIMEOUT_SECONDS``, 5 s by default);
* retries, up to ``max_attempts``, only on connection errors, timeouts, 429 and 5xx, with
  exponential backoff and full jitter, or exactly the ``Retry-After`` the provider asked for
  (seconds or an HTTP date) when that is no longer than ``OUTBOUND_BACKOFF_MAX_SECONDS``; a
  longer ``Retry-After`` ends the call at once with ``ProviderUnavailable(retry_after=...)``, so
  the task queue does the waiting instead of a worker;
* never a retry on any other 4xx (``ProviderRejected``);
* the same idempotency key on every attempt. A mutating call (POST, PUT, PATCH, DELETE) without
  one is not retried after a read timeout, a broken connection or a 5xx, because the provider may
  already have applied it; it is still retried when the request provably never left (connection
  refused, connect timeout) or was refused with 429. A key with ``idempotency_header=None`` (a
  provider without idempotency keys, e.g. Z-API) is only written to the ledger, never sent, and
  the call is retried as one without a key: the caller bounds duplicates itself;
* the provider's circuit breaker is asked before every attempt (see ``breaker.py``);
* one ``ProviderCall`` row per attempt, written after the attempt with its outcome, plus one row
  (outcome ``circuit_open``, attempt 1, no status, 0 ms) for a call the breaker refused outright;
* no secret in a row or a log line: no bodies, no headers, query values of secret-looking keys
  and user info removed from the URL, secret header values and ``secret_values`` scrubbed from
  error text;
* redirects are not followed (a redirect would carry our credentials to another URL).

Transactions: each attempt's row and breaker update are committed in a short durable
transaction of their own, so the ledger and the breaker survive whatever the caller does next.
Providers are called from tasks, outside any transaction (an open transaction would hold its
locks, on SQLite the whole database's write lock, for the length of a network call), so
``request`` raises ``RuntimeError`` before sending anything when called inside
``transaction.atomic``.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import requests
import structlog
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)

from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import ProviderCall
from integrations.outbound.breaker import Permit, breaker_permit, breaker_record

log = structlog.get_logger(__name__)

Outcome = ProviderCall.Outcome

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_SECRET_HEADERS: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "access_token",
    "access-token",
    "x-access-token",
    "x-auth-token",
    "x-api-key",
    "api-key",
    "apikey",
)
SECRET_QUERY_KEY = re.compile(
    r"token|secret|passw|pwd|signature|^sig$|key|auth|credential|session|cvc|cvv|card",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
MIN_SCRUBBED_LENGTH = 4
MAX_ERROR_LENGTH = 500
URL_MAX_LENGTH = 500
_OBJECT_REPR = re.compile(r"<[^<>]*>:?\s*")
_random = secrets.SystemRandom()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date), never
    negative; ``None`` when the header is missing or unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    uniform: Callable[[float, float], float] = _random.uniform,
) -> float:
    """Full-jitter backoff after failed attempt number ``attempt`` (1-based): a uniform draw
    from ``[0, min(cap, base * 2 ** (attempt - 1))]``."""
    return uniform(0.0, min(cap, base * 2 ** (attempt - 1)))


def redact_url(url: str, secret_values: Iterable[str] = ()) -> str:
    """``url`` without user info or fragment, with the values of secret-looking query keys
    replaced by ``[redacted]`` and any of ``secret_values`` scrubbed (e.g. a token in the path)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = "&".join(
        f"{quote(key, safe='')}={REDACTED if SECRET_QUERY_KEY.search(key) else quote(val, safe='')}"
        for key, val in parse_qsl(parts.query, keep_blank_values=True)
    )
    redacted = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return _Scrubber(secret_values).scrub(redacted)


class _Scrubber:
    """Replaces known secret strings (raw and percent-encoded) in free text, after swapping each
    key of ``replacements`` (e.g. the raw request URL) for its value (the redacted one)."""

    def __init__(
        self, values: Iterable[str], replacements: Mapping[str, str] | None = None
    ) -> None:
        self.replacements = {raw: safe for raw, safe in (replacements or {}).items() if raw}
        found: set[str] = set()
        for value in values:
            # The whole value, and its last word: the token of "Bearer <token>".
            for candidate in (value, *value.split()[-1:]):
                if len(candidate) >= MIN_SCRUBBED_LENGTH:
                    found.update({candidate, quote(candidate, safe=""), quote(candidate)})
        self.values = sorted(found, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for raw, safe in self.replacements.items():
            text = text.replace(raw, safe)
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text


@dataclass(frozen=True)
class _Result:
    outcome: str
    duration_ms: int
    status_code: int | None = None
    error: str = ""
    response: requests.Response | None = None
    retry_after: float | None = None
    may_have_been_applied: bool = False

    @property
    def succeeded(self) -> bool:
        return self.outcome == Outcome.SUCCESS

    @property
    def rejected(self) -> bool:
        """A terminal 4xx: the provider is up and said no."""
        return (
            self.status_code is not None
            and 400 <= self.status_code < 500
            and (self.status_code != 429)
        )

    @property
    def failed(self) -> bool:
        """Counts against the breaker and may be retried."""
        return not self.succeeded and not self.rejected


@dataclass(frozen=True)
class _Call:
    operation: str
    method: str
    url: str
    idempotency_key: str
    subject_type: ContentType | None
    subject_id: str


class ProviderClient:
    """HTTP client for one provider; see the module docstring for what every call promises.

    ``secret_headers`` (case-insensitive names) and ``secret_values`` are scrubbed from every row
    and log line. Timeouts and ``max_attempts`` left as ``None`` are read from settings at each
    call. ``sleep`` waits between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        default_headers: Mapping[str, str] | None = None,
        secret_headers: Iterable[str] = DEFAULT_SECRET_HEADERS,
        secret_values: Iterable[str] = (),
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not provider or len(provider) > _max_length("provider"):
            raise ValueError(f"Invalid provider name {provider!r}.")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1.")
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.default_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(default_headers or {})
        self.secret_headers = frozenset(name.lower() for name in secret_headers)
        self.secret_values = tuple(secret_values)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_attempts = max_attempts
        self.session = session or requests.Session()
        self.sleep = sleep

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds."""
        return (
            self._connect_timeout
            if self._connect_timeout is not None
            else settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS,
            self._read_timeout
            if self._read_timeout is not None
            else settings.OUTBOUND_READ_TIMEOUT_SECONDS,
        )

    @property
    def max_attempts(self) -> int:
        return (
            self._max_attempts
            if self._max_attempts is not None
            else max(1, int(settings.OUTBOUND_MAX_ATTEMPTS))
        )

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str | None = "Idempotency-Key",
        subject: models.Model | None = None,
    ) -> requests.Response:
        """Send ``method base_url/path`` as operation ``operation`` and return the provider's
        answer when it is below 400 (redirects are returned, not followed).

        ``idempotency_key`` goes to the ledger and, unless ``idempotency_header`` is None (the
        provider takes no key), to the provider in that header.

        Raises ``ProviderRejected`` on a 4xx other than 429 (never retried), ``CircuitOpen``
        when the breaker refuses before anything is sent, ``ProviderUnavailable`` when retries
        are exhausted, a retry would be unsafe (mutating call without an idempotency key that
        may have been applied) or the breaker opens between attempts, and ``RuntimeError`` when
        called inside ``transaction.atomic`` (nothing is sent). Leaves one ``ProviderCall`` row
        per attempt, linked to ``subject`` when given.
        """
        _refuse_inside_transaction()
        method = method.upper()
        if not operation or len(operation) > _max_length("operation"):
            raise ValueError(f"Invalid operation name {operation!r}.")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= _max_length(
            "idempotency_key"
        ):
            raise ValueError(f"Invalid idempotency key {idempotency_key!r}.")
        merged = CaseInsensitiveDict({"User-Agent": f"switchboard/{settings.APP_VERSION}"})
        merged.update(self.default_headers)
        merged.update(headers or {})
        if idempotency_key is not None and idempotency_header is not None:
            merged[idempotency_header] = idempotency_key
        prepared = self.session.prepare_request(
            requests.Request(
                method,
                f"{self.base_url}/{path.lstrip('/')}",
                headers=merged,
                json=json,
                data=data,
                params=dict(params or {}),
            )
        )
        url = prepared.url or ""
        secrets_seen = [
            value for name, value in merged.items() if name.lower() in self.secret_headers
        ]
        secrets_seen += [
            value
            for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)
            if SECRET_QUERY_KEY.search(key)
        ]
        secrets_seen += self.secret_values
        safe_url = redact_url(url, secrets_seen)
        raw_path = prepared.path_url
        safe_path = redact_url(f"http://host{raw_path}", secrets_seen).removeprefix("http://host")
        scrubber = _Scrubber(secrets_seen, {url: safe_url, raw_path: safe_path})
        call = _Call(
            operation=operation,
            method=method,
            url=safe_url[:URL_MAX_LENGTH],
            idempotency_key=idempotency_key or "",
            subject_type=ContentType.objects.get_for_model(subject)
            if subject is not None
            else None,
            subject_id=str(subject.pk) if subject is not None and subject.pk is not None else "",
        )
        replay_unsafe = method in MUTATING_METHODS and not (
            idempotency_key and idempotency_header is not None
        )
        max_attempts = self.max_attempts
        last: _Result | None = None
        for attempt in range(1, max_attempts + 1):
            with transaction.atomic(durable=True):
                permit = breaker_permit(self.provider)
                if not permit.allowed and attempt == 1:
                    self._record(call, attempt, _Result(Outcome.CIRCUIT_OPEN, 0))
            if not permit.allowed:
                raise self._refused(call, permit, last)
            result = self._send(prepared, scrubber)
            with transaction.atomic(durable=True):
                self._record(call, attempt, result)
                breaker_record(self.provider, failed=result.failed, trial=permit.trial)
            if result.succeeded:
                assert result.response is not None
                return result.response
            if result.rejected:
                raise ProviderRejected(
                    scrubber.scrub(f"{self.provider} {operation}: {result.error}"),
                    provider=self.provider,
                    operation=operation,
                    status_code=result.status_code or 0,
                    response=result.response,
                )
            last = result
            retry_after = result.retry_after
            if permit.trial:
                why = "the breaker's trial call failed, it is open again"
                retry_after = float(settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS)
            elif replay_unsafe and result.may_have_been_applied:
                why = f"not retried: {method} without an idempotency key may have been applied"
            elif retry_after is not None and retry_after > settings.OUTBOUND_BACKOFF_MAX_SECONDS:
                why = f"not retried in-process: Retry-After {retry_after:.0f}s"
            elif attempt < max_attempts:
                self.sleep(
                    retry_after
                    if retry_after is not None
                    else backoff_delay(
                        attempt,
                        base=settings.OUTBOUND_BACKOFF_BASE_SECONDS,
                        cap=settings.OUTBOUND_BACKOFF_MAX_SECONDS,
                    )
                )
                continue
            else:
                why = ""
            raise self._unavailable(call, attempt, result, why=why, retry_after=retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, prepared: requests.PreparedRequest, scrubber: _Scrubber) -> _Result:
        environment = self.session.merge_environment_settings(prepared.url, {}, False, None, None)
        started = time.monotonic()
        try:
            response = self.session.send(
                prepared.copy(), timeout=self.timeout, allow_redirects=False, **environment
            )
        except requests.RequestException as exc:
            elapsed = _elapsed_ms(started)
            never_sent = _never_sent(exc)
            timed_out = isinstance(exc, requests.Timeout) or _reason(exc, ReadTimeoutError)
            return _Result(
                Outcome.TIMEOUT if timed_out else Outcome.CONNECTION_ERROR,
                elapsed,
                error=_describe(exc, scrubber),
                may_have_been_applied=not never_sent,
            )
        elapsed = _elapsed_ms(started)
        status = response.status_code
        error = "" if status < 400 else scrubber.scrub(f"HTTP {status} {response.reason or ''}")
        return _Result(
            Outcome.SUCCESS if status < 400 else Outcome.HTTP_ERROR,
            elapsed,
            status_code=status,
            error=error.strip()[:MAX_ERROR_LENGTH],
            response=response,
            retry_after=(
                parse_retry_after(response.headers.get("Retry-After"))
                if status == 429 or status >= 500
                else None
            ),
            may_have_been_applied=status >= 500,
        )

    def _record(self, call: _Call, attempt: int, result: _Result) -> None:
        ProviderCall.objects.create(
            provider=self.provider,
            operation=call.operation,
            method=call.method,
            url=call.url,
            status_code=result.status_code,
            outcome=result.outcome,
            duration_ms=result.duration_ms,
            attempt=attempt,
            idempotency_key=call.idempotency_key,
            error=result.error,
            subject_type=call.subject_type,
            subject_id=call.subject_id,
        )
        fields = {
            "provider": self.provider,
            "operation": call.operation,
            "method": call.method,
            "url": call.url,
            "attempt": attempt,
            "outcome": str(result.outcome),
            "status_code": result.status_code,
            "duration_ms": result.duration_ms,
            "idempotency_key": call.idempotency_key,
        }
        if result.succeeded:
            log.info("provider_call", **fields)
        else:
            log.warning("provider_call", error=result.error, **fields)

    def _refused(self, call: _Call, permit: Permit, last: _Result | None) -> ProviderUnavailable:
        if last is None:
            return CircuitOpen(
                f"{self.provider} {call.operation}: circuit open, not sent",
                provider=self.provider,
                operation=call.operation,
                retry_after=permit.retry_after,
            )
        return ProviderUnavailable(
            f"{self.provider} {call.operation}: {last.error}; circuit opened, not retried",
            provider=self.provider,
            operation=call.operation,
            retry_after=permit.retry_after,
            status_code=last.status_code,
        )

    def _unavailable(
        self, call: _Call, attempts: int, result: _Result, *, why: str, retry_after: float | None
    ) -> ProviderUnavailable:
        plural = "s" if attempts > 1 else ""
        detail = (
            f"{self.provider} {call.operation}: {result.error} after {attempts} attempt{plural}"
        )
        return ProviderUnavailable(
            f"{detail}; {why}" if why else detail,
            provider=self.provider,
            operation=call.operation,
            retry_after=retry_after,
            status_code=result.status_code,
        )


def _refuse_inside_transaction() -> None:
    # The same test Django makes for ``atomic(durable=True)`` (which the writes also use), made
    # up front so nothing is sent, with a message that says what to do. A test case's own
    # wrapping transaction does not count.
    blocks = transaction.get_connection().atomic_blocks
    if blocks and not getattr(blocks[-1], "_from_testcase", False):
        raise RuntimeError(
            "ProviderClient.request was called inside transaction.atomic. Call providers from "
            "tasks, outside any transaction: its rows must commit on their own, and an open "
            "transaction would hold its locks for the length of a network call."
        )


def _max_length(field_name: str) -> int:
    return int(getattr(ProviderCall._meta.get_field(field_name), "max_length", 0) or 0)


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def _reason(exc: requests.RequestException, *kinds: type[BaseException]) -> bool:
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, kinds)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the provider (no connection was made)."""
    return isinstance(exc, requests.ConnectTimeout) or _reason(
        exc, NewConnectionError, ConnectTimeoutError
    )


def _describe(exc: requests.RequestException, scrubber: _Scrubber) -> str:
    reason: Any = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    text = _OBJECT_REPR.sub("", str(reason))
    return scrubber.scrub(f"{type(exc).__name__}: {text}".strip())[:MAX_ERROR_LENGTH]
