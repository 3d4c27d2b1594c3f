from __future__ import annotations

from dataclasses import dataclass

from integrations.events import EventType, Payload, register_event_types


@dataclass(frozen=True, kw_only=True)
class NotificationPayload(Payload):
    channel: str
    channel_label: str
    template: str
    recipient: str
    order: str = ""
    """The number of the order the message is about (empty: none); the order's timeline reads it."""


@dataclass(frozen=True, kw_only=True)
class NotificationSentPayload(NotificationPayload):
    provider: str
    provider_message_id: str


@dataclass(frozen=True, kw_only=True)
class NotificationFailedPayload(NotificationPayload):
    error: str
    refusal: str = ""
    """The send policy's ``Refusal`` code when it refused the message (blank: the provider)."""


@dataclass(frozen=True, kw_only=True)
class NotificationResentPayload(NotificationPayload):
    original: int
    """The id of the notification resent; the event's subject is the new one."""
    original_recipient: str


register_event_types(
    EventType(
        "notification.queued",
        "Message queued",
        "{channel_label} '{template}' to {recipient} queued",
        payload=NotificationPayload,
    ),
    EventType(
        "notification.sent",
        "Message sent",
        "{channel_label} '{template}' to {recipient} sent via {provider}",
        payload=NotificationSentPayload,
    ),
    EventType(
        "notification.delivered",
        "Message delivered",
        "{channel_label} '{template}' to {recipient} delivered",
        payload=NotificationPayload,
    ),
    EventType(
        "notification.read",
        "Message read",
        "{channel_label} '{template}' to {recipient} read",
        payload=NotificationPayload,
    ),
    EventType(
        "notification.failed",
        "Message failed",
        "{channel_label} '{template}' to {recipient} failed: {error}",
        payload=NotificationFailedPayload,
    ),
    EventType(
        "notification.resent",
        "Message resent",
        "{channel_label} '{template}' resent to {recipient} (a copy of message #{original})",
        payload=NotificationResentPayload,
    ),
)


@dataclass(frozen=True, kw_only=True)
class EmailSuppressionPayload(Payload):
    address: str
    reason: str
    reason_label: str
    detail: str


register_event_types(
    EventType(
        "notification.email_suppressed",
        "E-mail address suppressed",
        "{address} suppressed ({reason_label}): no more e-mail to it until staff clear it",
        payload=EmailSuppressionPayload,
    ),
    EventType(
        "notification.email_suppression_cleared",
        "E-mail suppression cleared",
        "{address} cleared from the suppression list: e-mail to it is sent again",
        payload=EmailSuppressionPayload,
    ),
)


@dataclass(frozen=True, kw_only=True)
class ConsentPayload(Payload):
    channel: str
    channel_label: str
    source: str
    detail: str


register_event_types(
    EventType(
        "consent.opted_out",
        "Opted out",
        "Opted out of {channel_label} ({source}): no more messages on it",
        payload=ConsentPayload,
    ),
    EventType(
        "consent.opted_in",
        "Opted in",
        "Opted in to {channel_label} again ({source})",
        payload=ConsentPayload,
    ),
)


@dataclass(frozen=True, kw_only=True)
class NotificationFallbackPayload(NotificationPayload):
    """A rule's next channel queued after this one failed or was not delivered in time."""

    why: str
    """What happened to the previous one: "failed (<error>)", "not delivered within 30 min"."""
    next_channel: str
    next_channel_label: str
    next_recipient: str


register_event_types(
    EventType(
        "notification.fallback",
        "Message fell back to the next channel",
        "{channel_label} '{template}' {why} -> {next_channel_label} to {next_recipient} "
        "queued as fallback",
        payload=NotificationFallbackPayload,
    ),
)
from notifications.policy import events as _policy_events  # noqa: E402, F401 - registers them
