"""Usage events as an analytics source: an accepted ``usage.tracked`` event goes to the sinks
under the product's own event name (``report_exported``, not ``usage.tracked``) with its
properties, as the product would have tracked it itself. The PII rules apply to these
properties like to any other (a property named ``email`` is hashed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.analytics.records import AnalyticsSource, register_analytics_source
from integrations.events import event_payload
from integrations.models import DomainEvent
from usage.events import UsageTrackedPayload


def describe_usage_event(event: DomainEvent) -> tuple[str, Mapping[str, Any]]:
    payload = event_payload(event)
    if not isinstance(payload, UsageTrackedPayload):
        return event.type, {}
    properties: dict[str, Any] = dict(payload.properties)
    properties["feature"] = payload.feature
    properties["client_event_id"] = payload.client_event_id
    return payload.event or event.type, properties


def register_usage_analytics() -> None:
    register_analytics_source(
        AnalyticsSource(
            name="product",
            event_types=frozenset({"usage.tracked"}),
            describe=describe_usage_event,
        )
    )
