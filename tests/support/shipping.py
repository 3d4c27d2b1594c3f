"""Signed sandbox deliveries straight into an endpoint object (verify, parse, handler), and a
recorder for what an adapter hands to ``sandbox_emit``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from integrations import sandbox
from integrations.models import WebhookEvent
from integrations.sandbox import SandboxEvent
from integrations.webhooks.registry import HandlerOutcome, WebhookEndpoint
from integrations.webhooks.standard import standard_webhooks_headers


def signed(
    *, event_type: str, data: Mapping[str, Any], occurred_at: datetime, msg_id: str = ""
) -> tuple[dict[str, str], bytes]:
    """Headers and body exactly as the sandbox sends them, signed with the test secret now."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    body = json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat(), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    headers = standard_webhooks_headers(
        secret=settings.SANDBOX_WEBHOOK_SECRET, msg_id=msg_id, body=body, at=datetime.now(tz=UTC)
    )
    return headers, body.encode()


def deliver(
    endpoint: WebhookEndpoint, headers: Mapping[str, str], body: bytes
) -> HandlerOutcome | None:
    """What the receiver and the inbox processor do with one delivery, minus the inbox row."""
    endpoint.verify(headers=headers, body=body)
    parsed = endpoint.parse(headers=headers, body=body)
    handler = endpoint.handler_for(parsed.event_type)
    assert handler is not None, parsed.event_type
    row = WebhookEvent(
        provider=endpoint.name,
        event_id=parsed.event_id,
        event_type=parsed.event_type,
        body=body.decode(),
        occurred_at=parsed.occurred_at,
    )
    return handler(row, parsed)


def deliver_event(endpoint: WebhookEndpoint, event: SandboxEvent) -> HandlerOutcome | None:
    headers, body = signed(event_type=event.type, data=event.data, occurred_at=event.occurred_at)
    return deliver(endpoint, headers, body)


class EmitRecorder:
    """Stands in for ``sandbox_emit`` in an adapter module: records the call, then runs the real
    one (which only schedules the deliveries for after commit)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[SandboxEvent]]] = []

    def __call__(self, *, endpoint: str, events: Sequence[SandboxEvent]) -> list[str]:
        self.calls.append((endpoint, list(events)))
        return sandbox.sandbox_emit(endpoint=endpoint, events=events)

    @property
    def events(self) -> list[SandboxEvent]:
        return [event for _, events in self.calls for event in events]
