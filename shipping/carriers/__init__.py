"""Carriers behind one protocol; ``get_carrier`` picks one by settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from shipping.carriers.base import Carrier

_instances: dict[str, Carrier] = {}


def get_carrier(name: str | None = None) -> Carrier:
    """The carrier named ``name`` (default ``SHIPPING_CARRIER``) from ``SHIPPING_CARRIERS``.

    Raises ImproperlyConfigured for a name the registry does not list."""
    name = name or settings.SHIPPING_CARRIER
    if name not in _instances:
        try:
            path = settings.SHIPPING_CARRIERS[name]
        except KeyError:
            raise ImproperlyConfigured(f"Carrier {name!r} is not in SHIPPING_CARRIERS.") from None
        _instances[name] = import_string(path)()
    return _instances[name]
