"""The analytics sinks' subscribers: every committed domain event, one Delivery per enabled
sink, so a sink that is down retries alone and the others go on."""

from __future__ import annotations

from django.conf import settings

from integrations.analytics.services import analytics_event_export
from integrations.analytics.sinks import sink_wants
from integrations.deliveries.registry import ANY_EVENT_TYPE, Subscriber
from integrations.models import DomainEvent


def to_segment(event: DomainEvent) -> None:
    analytics_event_export(sink="segment", event=event)


def to_posthog(event: DomainEvent) -> None:
    analytics_event_export(sink="posthog", event=event)


def to_warehouse(event: DomainEvent) -> None:
    analytics_event_export(sink="warehouse", event=event)


SUBSCRIBERS = [
    Subscriber(
        name=f"analytics.{sink}",
        event_types=frozenset({ANY_EVENT_TYPE}),
        handle=handle,
        # The SDKs wait on the network: no transaction held open meanwhile (SQLite's one lock).
        atomic=False,
        max_attempts=settings.ANALYTICS_MAX_ATTEMPTS,
        wants=sink_wants(sink),
    )
    for sink, handle in (
        ("segment", to_segment),
        ("posthog", to_posthog),
        ("warehouse", to_warehouse),
    )
]
