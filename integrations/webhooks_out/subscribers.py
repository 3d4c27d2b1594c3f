"""The outbound webhooks' one subscriber: every committed domain event, fanned out to endpoints."""

from __future__ import annotations

from integrations.deliveries.registry import ANY_EVENT_TYPE, Subscriber
from integrations.models import DomainEvent
from integrations.webhooks_out.services import messages_fan_out, someone_subscribes_to


def fan_out(event: DomainEvent) -> None:
    messages_fan_out(event=event)


SUBSCRIBERS = [
    Subscriber(
        name="integrations.webhooks_out",
        event_types=frozenset({ANY_EVENT_TYPE}),
        handle=fan_out,
        wants=someone_subscribes_to,
    )
]
