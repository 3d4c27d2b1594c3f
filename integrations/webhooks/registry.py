"""Webhook endpoints by provider name. Each domain app registers its providers' endpoints in its
``AppConfig.ready``; the receiver view and the processor only talk to this protocol."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.module_loading import import_string

from integrations.exceptions import SwitchboardError
from integrations.models import WebhookEvent
from integrations.providers import WebhookRoute, webhook_route, webhook_routes

MAX_JSON_DEPTH = 64
"""Nesting allowed in a webhook body (provider events nest a handful of levels)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""JSON numbers must fit the database's BigIntegerField."""
EARLIEST_OCCURRED_AT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_OCCURRED_AT = datetime(9000, 1, 1, tzinfo=UTC)
"""A provider time outside this window is malformed (and far from Python's and SQL's limits)."""


class WebhookError(SwitchboardError):
    """A webhook delivery that cannot be accepted as it is."""

    code = "webhook_error"
    title = "Webhook refused"


class MalformedWebhook(WebhookError):
    """The body or a fact in it is malformed: the receiver answers 400 and stores nothing; a
    stored event that turns out malformed is dead at once."""

    code = "malformed_webhook"
    title = "Malformed webhook"


class SignatureRejected(WebhookError):
    """A bad or stale signature: the receiver answers 401; the refusal is counted, nothing is
    stored as processable."""

    code = "signature_rejected"
    http_status = 401
    title = "Webhook signature rejected"


@dataclass(frozen=True)
class ParsedWebhook:
    """What an endpoint reads off a verified delivery; ``payload`` is the decoded JSON body.

    Raises MalformedWebhook for texts a database refuses (NUL, lone surrogates) and for an
    ``occurred_at`` that is naive or out of range; ``occurred_at`` is kept in UTC."""

    event_id: str
    event_type: str
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None
    object_id: str = ""

    def __post_init__(self) -> None:
        for name in ("event_id", "event_type", "object_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not storable_text(value):
                raise MalformedWebhook(f"The {name} is not storable text.")
        if self.occurred_at is not None:
            object.__setattr__(self, "occurred_at", bounded_time(self.occurred_at))


def storable_text(value: str) -> bool:
    """True unless ``value`` holds a NUL or a lone surrogate (PostgreSQL and SQLite refuse them)."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bounded_time(value: datetime) -> datetime:
    """``value`` in UTC; raises MalformedWebhook if it is naive or outside the plausible window."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise MalformedWebhook("A provider time must carry its offset.")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise MalformedWebhook("A provider time is out of range.") from None
    if not EARLIEST_OCCURRED_AT <= utc < LATEST_OCCURRED_AT:
        raise MalformedWebhook("A provider time is out of range.")
    return utc


def unix_time(value: Any) -> datetime:
    """A provider's integer unix seconds as an aware UTC datetime; raises MalformedWebhook for
    anything else (bools, floats, strings) or a time out of range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedWebhook("A unix time must be an integer.")
    try:
        return bounded_time(datetime.fromtimestamp(value, tz=UTC))
    except (OverflowError, OSError, ValueError):
        raise MalformedWebhook("A unix time is out of range.") from None


def _json_int(text: str) -> int:
    if len(text) > 20:  # before int(): a 4,300-digit literal costs time and raises ValueError
        raise MalformedWebhook("A number is out of range.")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise MalformedWebhook("A number is out of range.")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not abs(value) <= INT64_MAX:  # also refuses inf (a literal like 1e400)
        raise MalformedWebhook("A number is out of range.")
    return value


def _json_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise MalformedWebhook("A number is out of range.") from None
    if not value.copy_abs() <= INT64_MAX:  # abs() rounds: Decimal("1e999999999") overflows
        raise MalformedWebhook("A number is out of range.")
    return value


def _json_constant(name: str) -> Any:
    raise MalformedWebhook(f"{name} is not JSON.")


# Made once: ``json.loads`` with hooks builds a decoder (and its scanner) on every call.
_FLOAT_DECODER = json.JSONDecoder(
    parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
)
_DECIMAL_DECODER = json.JSONDecoder(
    parse_int=_json_int, parse_float=_json_decimal, parse_constant=_json_constant
)


def load_json(body: bytes, *, decimals: bool = False) -> Any:
    """Decode a webhook body: UTF-8 JSON nested at most MAX_JSON_DEPTH deep, every number within
    64 bits (``decimals``: non-integers as ``Decimal``, else ``float``), no ``NaN``/``Infinity``,
    no NUL or lone surrogate in any string. Raises MalformedWebhook for anything else, so nothing
    a sender puts in a body can raise past a parser."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedWebhook("Body is not UTF-8.") from None
    try:
        value = (_DECIMAL_DECODER if decimals else _FLOAT_DECODER).decode(text)
    except RecursionError:
        raise MalformedWebhook(f"Body is nested deeper than {MAX_JSON_DEPTH}.") from None
    except ValueError:
        raise MalformedWebhook("Body is not JSON.") from None
    if not _plainly_storable(body):
        _check_tree(value)
    return value


def _plainly_storable(body: bytes) -> bool:
    """True when no decoded value can break ``_check_tree``'s rules, so the walk can be skipped:
    an ASCII body without ``\\u`` escapes decodes to strings without NUL or surrogates (the decoder
    refuses raw control characters), and with at most MAX_JSON_DEPTH brackets in all it cannot
    nest deeper. Most provider deliveries are such bodies."""
    return (
        body.isascii()
        and b"\\u" not in body
        and body.count(b"{") + body.count(b"[") <= MAX_JSON_DEPTH
    )


def _check_tree(value: Any) -> None:
    """Raise MalformedWebhook past MAX_JSON_DEPTH or for an unstorable string (iterative: the
    decoder already stopped anything deep enough to exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not storable_text(item):
                raise MalformedWebhook("A string holds a NUL or a lone surrogate.")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise MalformedWebhook(f"Body is nested deeper than {MAX_JSON_DEPTH}.")
        if isinstance(item, dict):
            for key, child in item.items():
                if not storable_text(key):
                    raise MalformedWebhook("A key holds a NUL or a lone surrogate.")
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


@dataclass(frozen=True)
class HandlerOutcome:
    """What a handler did: the rows it changed (linked from the inbox admin)."""

    affected: Sequence[models.Model] = field(default_factory=tuple)


Handler = Callable[[WebhookEvent, ParsedWebhook], HandlerOutcome | None]


class WebhookEndpoint(Protocol):
    name: str
    """URL segment: POST /webhooks/<name>/"""
    secret_headers: frozenset[str]
    """Lower-case header names never stored (tokens, signatures)."""

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        """Raise SignatureRejected unless the raw body is authentic and fresh."""

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        """Raise MalformedWebhook for a body that is not the provider's format."""

    def handler_for(self, event_type: str) -> Handler | None:
        """The handler for this type, or None: the event is then stored as ignored."""


class UrlTokenEndpoint(WebhookEndpoint, Protocol):
    """An endpoint served at ``/webhooks/<name>/<token>/`` too: the provider signs nothing and
    is given a URL with a secret segment (Z-API). ``verify_url_token`` runs before ``verify``;
    an endpoint without it answers 404 on a URL with a token."""

    def verify_url_token(self, token: str) -> None:
        """Raise SignatureRejected unless ``token`` (blank when the URL has none) is ours."""


class RequestSignedEndpoint(WebhookEndpoint, Protocol):
    """An endpoint whose signature covers the method and the full URI as called (HubSpot v3):
    the receiver calls ``verify_request`` instead of ``verify``."""

    def verify_request(
        self, *, method: str, uri: str, headers: Mapping[str, str], body: bytes
    ) -> None:
        """Raise SignatureRejected unless the request is authentic and fresh."""


_ENDPOINTS: dict[str, WebhookEndpoint] = {}
"""Endpoints registered by hand (tests); enabled providers' endpoints come from their specs."""


def register_webhook_endpoint(endpoint: WebhookEndpoint) -> None:
    existing = get_webhook_endpoint(endpoint.name)
    if existing is not None and existing is not endpoint:
        raise ValueError(f"Webhook endpoint {endpoint.name!r} is registered twice.")
    _ENDPOINTS[endpoint.name] = endpoint


def _spec_endpoint(route: WebhookRoute) -> WebhookEndpoint:
    endpoint: WebhookEndpoint = import_string(route.endpoint)
    if endpoint.name != route.slug:
        raise ImproperlyConfigured(
            f"{route.endpoint} is named {endpoint.name!r}, its spec serves it at {route.slug!r}."
        )
    return endpoint


def get_webhook_endpoint(name: str) -> WebhookEndpoint | None:
    """The endpoint served at ``/webhooks/<name>/``: an enabled provider's (from its spec), or
    one registered by hand; None when no enabled provider serves that slug."""
    route = webhook_route(name)
    if route is not None:
        return _spec_endpoint(route)
    return _ENDPOINTS.get(name)


def registered_webhook_endpoints() -> Mapping[str, WebhookEndpoint]:
    found = dict(_ENDPOINTS)
    found.update({slug: _spec_endpoint(route) for slug, route in webhook_routes().items()})
    return found


def unregister_webhook_endpoint(name: str) -> None:
    """Forget the endpoint called ``name`` (tests register throwaway endpoints); no-op if absent."""
    _ENDPOINTS.pop(name, None)


@contextmanager
def webhook_endpoint_registered(endpoint: WebhookEndpoint) -> Iterator[WebhookEndpoint]:
    """``endpoint`` served for the block, then forgotten only if the block added it: an endpoint
    already registered by hand stays, and one its enabled spec serves is never added to the hand
    registry (it would outlive the settings that enabled it)."""
    added = False
    if (
        _ENDPOINTS.get(endpoint.name) is not endpoint
        and get_webhook_endpoint(endpoint.name) is not endpoint
    ):
        register_webhook_endpoint(endpoint)
        added = True
    try:
        yield endpoint
    finally:
        if added:
            unregister_webhook_endpoint(endpoint.name)
