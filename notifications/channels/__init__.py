"""Message channels behind one protocol; ``get_channel`` picks a channel's adapter by settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from notifications.channels.base import MessageChannel

_instances: dict[str, MessageChannel] = {}


def get_channel(name: str) -> MessageChannel:
    """The adapter for channel ``name`` (email, whatsapp, sms) from ``MESSAGE_CHANNELS``.

    Raises ImproperlyConfigured for a channel the registry does not list."""
    if name not in _instances:
        try:
            path = settings.MESSAGE_CHANNELS[name]
        except KeyError:
            raise ImproperlyConfigured(
                f"Message channel {name!r} is not in MESSAGE_CHANNELS."
            ) from None
        _instances[name] = import_string(path)()
    return _instances[name]
