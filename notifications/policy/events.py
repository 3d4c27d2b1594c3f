"""Event types of the send policy (timeline entries)."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.events import EventType, Payload, register_event_types
from notifications.events import NotificationPayload


@dataclass(frozen=True, kw_only=True)
class NotificationDeferredPayload(NotificationPayload):
    send_after: str
    """ISO 8601, UTC."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class PreferencesChangedPayload(Payload):
    changes: str
    """What changed, as staff read it ("Marketing by WhatsApp: off")."""


register_event_types(
    EventType(
        "notification.deferred",
        "Message deferred",
        "{channel_label} '{template}' to {recipient} held back: {reason}",
        payload=NotificationDeferredPayload,
    ),
    EventType(
        "notification.preferences_changed",
        "Message preferences changed",
        "Message preferences changed: {changes}",
        payload=PreferencesChangedPayload,
    ),
)
