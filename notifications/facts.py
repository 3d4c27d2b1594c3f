"""The notification family's fact: what a messaging provider says about a message we sent, and
the one function applying it.

A provider's webhook module only verifies a delivery and maps it to a ``MessageStatusFact``
carrying the provider's own time; ``message_status_fact_apply`` finds the notification, checks
the provider's message id and applies the status under the notification's watermark and the
transitions, so any permutation of the same facts, duplicates included, ends in the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from integrations.exceptions import InvalidTransition
from integrations.facts import FactOutcome, ObjectNotReady, referenced
from integrations.webhooks.registry import MalformedWebhook
from notifications.exceptions import MessageIdMismatch
from notifications.models import Notification, NotificationStatus
from notifications.selectors import notification_by_provider_message_id
from notifications.services import notification_apply_provider_status

log = structlog.get_logger(__name__)
PROVIDER_STATUSES = frozenset(
    {NotificationStatus.DELIVERED, NotificationStatus.READ, NotificationStatus.FAILED}
)


@dataclass(frozen=True)
class MessageStatusFact:
    """The provider's word on one message: the notification is ``reference`` (ours,
    ``notification:<pk>``), the provider's id for the message ``provider_message_id``."""

    provider: str
    reference: str
    """Blank when the provider does not echo our reference (Z-API): the notification is then
    found by ``provider`` and ``provider_message_id``."""
    provider_message_id: str
    status: NotificationStatus
    occurred_at: datetime | None
    error: str = ""
    """Failed: the provider's error."""

    def __post_init__(self) -> None:
        if self.status not in PROVIDER_STATUSES:
            raise MalformedWebhook(f"{self.status!r} is not a status a provider reports.")


def _notification_for(fact: MessageStatusFact) -> Notification:
    if fact.reference:
        found: Notification = referenced(Notification, {"reference": fact.reference})
        return found
    by_id = notification_by_provider_message_id(
        provider=fact.provider, message_id=fact.provider_message_id
    )
    if by_id is None:
        raise ObjectNotReady(
            f"No {fact.provider} message {fact.provider_message_id or '(no id)'} is recorded (yet)."
        )
    return by_id


def message_status_fact_apply(*, fact: MessageStatusFact) -> FactOutcome:
    """Apply ``fact`` (``notification_apply_provider_status``); a move the notification is past
    (delivered after read, failed after delivered) is dropped. Raises ObjectNotReady while the
    notification is not recorded or not recorded as sent yet (the inbox retries) and
    MessageIdMismatch when the provider's id is not the one we recorded. A fact without our
    reference is matched by the provider's message id alone (ObjectNotReady until recorded)."""
    notification = _notification_for(fact)
    if notification.status == NotificationStatus.QUEUED:
        raise ObjectNotReady(f"{notification} is not recorded as sent yet.")
    message_id = fact.provider_message_id
    if notification.provider_message_id and message_id != notification.provider_message_id:
        raise MessageIdMismatch(
            f"{notification}: the provider says message {message_id or '(none)'}, "
            f"we have {notification.provider_message_id}."
        )
    try:
        notification = notification_apply_provider_status(
            notification=notification,
            status=fact.status,
            occurred_at=fact.occurred_at,
            error=fact.error or "Reported failed by the provider",
        )
    except InvalidTransition as exc:
        log.info("webhook.fact_superseded", provider=fact.provider, detail=str(exc))
    return FactOutcome(affected=(notification,), target=notification)
