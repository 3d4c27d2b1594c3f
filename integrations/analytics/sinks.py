"""The three sinks: Segment and PostHog through their official SDKs, a warehouse directory.

The SDKs speak HTTP themselves (their own ``requests`` sessions), not through
``integrations.outbound.ProviderClient``: the issue asks for the official SDKs, and neither lets
its transport be replaced. What the shared client would give is kept another way: each SDK runs
in synchronous mode, one call per export, so a failure raises into the Delivery relay (retries
with backoff, ``last_error`` and the dead state on the Delivery row, visible in the admin); the
provider's circuit breaker (``segment``, ``posthog``) is asked before each call and told its
outcome; the message id makes a retried call idempotent at the provider; the SDKs' own retries
are off (sync mode does not retry), so the relay is the one retry policy.

``send`` raises ProviderUnavailable (retry later: connection errors, timeouts, 429, 5xx, an open
breaker) or ProviderRejected (the provider refused the message: retrying cannot help).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import requests
from django.conf import settings
from django.db import transaction

from integrations.analytics.records import AnalyticsRecord
from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.breaker import breaker_permit, breaker_record

RETRY_STATUSES = frozenset({408, 409, 429})


class Sink(Protocol):
    name: str
    needs_customer: bool
    """Segment and PostHog are per person: an event without a customer is not sent there."""

    def enabled(self) -> bool: ...

    def send(self, records: Sequence[AnalyticsRecord], *, backfill: bool = False) -> None: ...


def _status_error(
    sink: str, status: Any, detail: str, retry_after: float | None = None
) -> Exception:
    code = status if isinstance(status, int) else 0
    message = f"{sink} answered {code}: {detail}"[:300]
    if code >= 500 or code in RETRY_STATUSES or code == 0:
        return ProviderUnavailable(
            message, provider=sink, operation="track", retry_after=retry_after, status_code=code
        )
    return ProviderRejected(message, provider=sink, operation="track", status_code=code)


@contextmanager
def _breaker(sink: str) -> Iterator[None]:
    """Ask the sink's circuit breaker first; tell it whether the provider was reachable."""
    with transaction.atomic():
        permit = breaker_permit(sink)
    if not permit.allowed:
        raise ProviderUnavailable(
            f"{sink}: circuit breaker open", provider=sink, retry_after=permit.retry_after
        )
    failed = True
    try:
        yield
        failed = False
    except ProviderRejected:
        failed = False  # it answered: it is up
        raise
    finally:
        with transaction.atomic():
            breaker_record(sink, failed=failed, trial=permit.trial)


BATCH_MESSAGES = 100
"""Most messages in one backfill request (Segment and PostHog batch endpoints)."""
BATCH_BYTES = 450 * 1024
"""Most bytes of one Segment backfill request (Segment refuses more than 500 KB)."""


def _chunks(messages: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for message in messages:
        length = len(json.dumps(message, default=str))
        if chunk and (len(chunk) >= BATCH_MESSAGES or size + length > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(message)
        size += length
    if chunk:
        yield chunk


class SegmentSink:
    """``track`` per record through the SDK's synchronous client; a backfill has the SDK build
    each message (``send=False``: its checks, 32 KB limit included) and posts them in batches
    with the SDK's own ``request.post``."""

    name = "segment"
    needs_customer = True

    def enabled(self) -> bool:
        return bool(settings.ANALYTICS_SEGMENT_WRITE_KEY)

    def send(self, records: Sequence[AnalyticsRecord], *, backfill: bool = False) -> None:
        key, host = settings.ANALYTICS_SEGMENT_WRITE_KEY, settings.ANALYTICS_SEGMENT_HOST
        timeout = settings.ANALYTICS_TIMEOUT_SECONDS
        batched = backfill and len(records) > 1
        client = _segment_client(key, host, timeout, not batched)
        with _breaker(self.name), self._errors():
            messages = [
                client.track(
                    user_id=record.user_id,
                    event=record.name,
                    properties=record.sink_properties(),
                    timestamp=record.occurred_at.astimezone(UTC),
                    message_id=record.id,
                )[1]
                for record in records
            ]
            if batched:
                from segment.analytics.request import post  # type: ignore[import-untyped]

                for chunk in _chunks(messages):
                    post(key, host, timeout=timeout, batch=chunk)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from segment.analytics.request import APIError

        try:
            yield
        except APIError as exc:
            raise _status_error(self.name, exc.status, str(exc.message)) from None
        except RuntimeError:  # the SDK refuses a message over Segment's 32 KB
            raise ProviderRejected(
                "segment: message over 32 KB", provider=self.name, operation="track"
            ) from None
        except requests.RequestException as exc:
            raise _status_error(self.name, 0, type(exc).__name__) from None


@cache
def _segment_client(write_key: str, host: str, timeout: float, send: bool) -> Any:
    from segment.analytics.client import Client  # type: ignore[import-untyped]

    # Its debug log line holds the whole request body, write key included: never let it out.
    logging.getLogger("segment").setLevel(logging.WARNING)
    return Client(
        write_key=write_key, host=host, sync_mode=True, timeout=timeout, max_retries=0, send=send
    )


class PostHogSink:
    """``capture`` per record through the SDK's synchronous client; a backfill has the SDK build
    each event (its ``before_send`` hook hands the finished event over instead of sending it)
    and posts them in batches with the SDK's own ``batch_post``, flagged
    ``historical_migration``."""

    name = "posthog"
    needs_customer = True

    def enabled(self) -> bool:
        return bool(settings.ANALYTICS_POSTHOG_API_KEY)

    def send(self, records: Sequence[AnalyticsRecord], *, backfill: bool = False) -> None:
        key, host = settings.ANALYTICS_POSTHOG_API_KEY, settings.ANALYTICS_POSTHOG_HOST
        timeout = settings.ANALYTICS_TIMEOUT_SECONDS
        built: list[dict[str, Any]] = []
        client = _posthog_client(key, host, timeout, backfill)
        with _breaker(self.name), self._errors():
            collector = _COLLECTING.set(built if backfill else None)
            try:
                for record in records:
                    client.capture(
                        record.name,
                        distinct_id=record.user_id,
                        properties=record.sink_properties(),
                        timestamp=record.occurred_at.astimezone(UTC),
                        uuid=record.id,
                    )
            finally:
                _COLLECTING.reset(collector)
            if backfill:
                from posthog.request import batch_post

                for chunk in _chunks(built):
                    batch_post(key, host, timeout=timeout, batch=chunk, historical_migration=True)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        from posthog.request import APIError

        try:
            yield
        except APIError as exc:
            raise _status_error(self.name, exc.status, str(exc.message), exc.retry_after) from None
        except requests.RequestException as exc:
            raise _status_error(self.name, 0, type(exc).__name__) from None


_COLLECTING: ContextVar[list[dict[str, Any]] | None] = ContextVar(
    "posthog_collecting", default=None
)


def _collect(message: dict[str, Any]) -> dict[str, Any] | None:
    """The PostHog client's ``before_send``: during a backfill, keep the built event for a
    batch and send nothing now; otherwise let it go."""
    collecting = _COLLECTING.get()
    if collecting is None:
        return message
    collecting.append(message)
    return None


@cache
def _posthog_client(api_key: str, host: str, timeout: float, historical: bool) -> Any:
    from posthog import Posthog

    client = Posthog(
        api_key,
        host=host,
        sync_mode=True,
        timeout=timeout,
        max_retries=0,
        capture_mode="v0",  # POST /batch/ whatever POSTHOG_CAPTURE_MODE says
        historical_migration=historical,  # PostHog's flag for a backfill's old events
        disable_geoip=True,  # the events are ours, not the person's: no server location
        enable_exception_autocapture=False,
        before_send=_collect,
        # ``capture`` swallows errors unless debug is on; the relay must see them to retry.
        debug=True,
    )
    client.log.setLevel(logging.WARNING)  # debug=True also turns on its debug logging
    return client


class WarehouseSink:
    """One JSONL file per domain event under ``<dir>/events/v=1/date=<UTC day it occurred>/``,
    named by the record id and written whole (temporary file, then rename): a redelivery or a
    backfill rewrites the same file with the same line, so each event is one line once."""

    name = "warehouse"
    needs_customer = False

    def enabled(self) -> bool:
        return bool(settings.ANALYTICS_WAREHOUSE_DIR)

    def path_for(self, record: AnalyticsRecord) -> Path:
        day = record.occurred_at.astimezone(UTC).date().isoformat()
        return (
            Path(settings.ANALYTICS_WAREHOUSE_DIR)
            / "events"
            / f"v={record.as_json()['schema_version']}"
            / f"date={day}"
            / f"{record.id}.jsonl"
        )

    def send(self, records: Sequence[AnalyticsRecord], *, backfill: bool = False) -> None:
        for record in records:
            path = self.path_for(record)
            line = json.dumps(record.as_json(), ensure_ascii=False, sort_keys=True) + "\n"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.exists() and path.read_text(encoding="utf-8") == line:
                    continue
                handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
                try:
                    with os.fdopen(handle, "w", encoding="utf-8") as out:
                        out.write(line)
                        out.flush()
                        os.fsync(out.fileno())
                    os.replace(temporary, path)
                except BaseException:
                    Path(temporary).unlink(missing_ok=True)
                    raise
            except OSError as exc:
                raise ProviderUnavailable(
                    f"warehouse: {type(exc).__name__} {exc.strerror or ''}".strip(),
                    provider=self.name,
                    operation="write",
                ) from None


SINKS: dict[str, Sink] = {
    sink.name: sink for sink in (SegmentSink(), PostHogSink(), WarehouseSink())
}


def get_sink(name: str) -> Sink:
    return SINKS[name]


def sink_wants(name: str) -> Callable[[str], bool]:
    """For the subscriber: whether an event of this type is written a Delivery for this sink
    (the sink is on and the type not excluded). Reads settings only: cheap in record_event."""
    import fnmatch

    def wants(event_type: str) -> bool:
        return SINKS[name].enabled() and not any(
            fnmatch.fnmatchcase(event_type, pattern) for pattern in settings.ANALYTICS_EXCLUDE_TYPES
        )

    return wants
