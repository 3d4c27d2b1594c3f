"""The explicit provider registries in settings (``PAYMENT_PROVIDERS``, ``SHIPPING_CARRIERS``,
``MESSAGE_CHANNELS``): name -> adapter class path, instantiated once per process."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

_instances: dict[str, Any] = {}


def adapter_from_registry(setting: str, name: str) -> Any:
    """The adapter registered as ``name`` in the ``setting`` dict. Raises ImproperlyConfigured
    for a name the registry does not list."""
    try:
        path: str = getattr(settings, setting)[name]
    except KeyError:
        raise ImproperlyConfigured(f"{name!r} is not in {setting}.") from None
    if path not in _instances:
        _instances[path] = import_string(path)()
    return _instances[path]
