"""Message status events in the common shape, mapped to ``MessageStatusFact``.

Shared by every provider whose events reduce to the same facts: the payload's ``data`` carries
``reference`` (our ``notification:<pk>``), ``id`` (the provider's message id) and, for a
failure, ``error``; the event's time is the fact's. ``notifications.facts`` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from notifications.facts import MessageStatusFact, message_status_fact_apply
from notifications.models import NotificationStatus


def message_status_fact_from(
    data: Mapping[str, Any], parsed: ParsedWebhook, *, provider: str, kind: str
) -> MessageStatusFact:
    return MessageStatusFact(
        provider=provider,
        reference=str(data.get("reference", "")),
        provider_message_id=str(data.get("id", "")).strip(),
        status=NotificationStatus(kind),
        occurred_at=parsed.occurred_at,
        error=str(data.get("error", "")) if kind == NotificationStatus.FAILED else "",
    )


def message_fact(kind: str, *, provider: str = "sandbox") -> Handler:
    """A handler for ``delivered``, ``read`` or ``failed``."""

    @in_event_context
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        fact = message_status_fact_from(
            parsed.payload["data"], parsed, provider=provider, kind=kind
        )
        return HandlerOutcome(affected=message_status_fact_apply(fact=fact).affected)

    return handle


MESSAGE_FACT_HANDLERS: dict[str, Handler] = {
    "message.delivered": message_fact("delivered"),
    "message.read": message_fact("read"),
    "message.failed": message_fact("failed"),
}
