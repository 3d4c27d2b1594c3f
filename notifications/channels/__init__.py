"""Message channels behind one protocol; ``get_channel`` picks the provider carrying a channel."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.providers import MESSAGING, provider_adapter
from notifications.channels.base import MessageChannel


def get_channel(name: str) -> MessageChannel:
    """The adapter of the enabled provider that ``MESSAGE_CHANNELS`` names for channel ``name``
    (email, whatsapp, sms). Raises ImproperlyConfigured for a channel no provider carries."""
    provider = settings.MESSAGE_CHANNELS.get(name)
    if not provider:
        raise ImproperlyConfigured(
            f"No provider carries the {name!r} channel: add {name}=<provider> to MESSAGE_CHANNELS."
        )
    channel: MessageChannel = provider_adapter(MESSAGING, provider)
    return channel
