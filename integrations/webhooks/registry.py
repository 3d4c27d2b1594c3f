"""Webhook endpoints by provider name. Each domain app registers its providers' endpoints in its
``AppConfig.ready``; the receiver view and the processor only talk to this protocol."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.db import models

from integrations.exceptions import SwitchboardError
from integrations.models import WebhookEvent


class WebhookError(SwitchboardError):
    status_code = 400


class MalformedWebhook(WebhookError):  # -> 400, nothing stored
    status_code = 400


class SignatureRejected(WebhookError):  # -> 401, the attempt is logged, nothing processable
    status_code = 401


@dataclass(frozen=True)
class ParsedWebhook:
    """What an endpoint reads off a verified delivery; ``payload`` is the decoded JSON body."""

    event_id: str
    event_type: str
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None
    object_id: str = ""


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


_ENDPOINTS: dict[str, WebhookEndpoint] = {}


def register_webhook_endpoint(endpoint: WebhookEndpoint) -> None:
    existing = _ENDPOINTS.get(endpoint.name)
    if existing is not None and existing is not endpoint:
        raise ValueError(f"Webhook endpoint {endpoint.name!r} is registered twice.")
    _ENDPOINTS[endpoint.name] = endpoint


def get_webhook_endpoint(name: str) -> WebhookEndpoint | None:
    return _ENDPOINTS.get(name)


def registered_webhook_endpoints() -> Mapping[str, WebhookEndpoint]:
    return dict(_ENDPOINTS)


def unregister_webhook_endpoint(name: str) -> None:
    """Forget the endpoint called ``name`` (tests register throwaway endpoints); no-op if absent."""
    _ENDPOINTS.pop(name, None)
