"""Message channels behind one protocol; ``get_channel`` picks a channel's adapter by settings."""

from __future__ import annotations

from integrations.adapters import adapter_from_registry
from notifications.channels.base import MessageChannel


def get_channel(name: str) -> MessageChannel:
    """The adapter for channel ``name`` (email, whatsapp, sms) from ``MESSAGE_CHANNELS``.

    Raises ImproperlyConfigured for a channel the registry does not list."""
    channel: MessageChannel = adapter_from_registry("MESSAGE_CHANNELS", name)
    return channel
