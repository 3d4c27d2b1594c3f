"""The domain event types outbound webhooks record (operational: no customer)."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.events import EventType, Payload, register_event_types


@dataclass(frozen=True, kw_only=True)
class EndpointDisabledPayload(Payload):
    endpoint_id: int
    url: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class EndpointSecretRotatedPayload(Payload):
    endpoint_id: int
    url: str
    previous_valid_until: str
    """ISO 8601 time until which the previous secret keeps signing."""


register_event_types(
    EventType(
        "webhook_endpoint.disabled",
        "Outbound webhook endpoint disabled",
        "{url} disabled: {reason}",
        payload=EndpointDisabledPayload,
    ),
    EventType(
        "webhook_endpoint.secret_rotated",
        "Outbound webhook secret rotated",
        "{url}: new secret; the previous one signs until {previous_valid_until}",
        payload=EndpointSecretRotatedPayload,
    ),
)
