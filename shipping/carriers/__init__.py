"""Carriers behind one protocol; ``get_carrier`` picks one by settings."""

from __future__ import annotations

from django.conf import settings

from integrations.adapters import adapter_from_registry
from shipping.carriers.base import Carrier


def get_carrier(name: str | None = None) -> Carrier:
    """The carrier named ``name`` (default ``SHIPPING_CARRIER``) from ``SHIPPING_CARRIERS``.

    Raises ImproperlyConfigured for a name the registry does not list."""
    carrier: Carrier = adapter_from_registry("SHIPPING_CARRIERS", name or settings.SHIPPING_CARRIER)
    return carrier
