"""Carriers behind one protocol; ``get_carrier`` picks one by settings."""

from __future__ import annotations

from django.conf import settings

from integrations.providers import SHIPPING, provider_adapter
from shipping.carriers.base import Carrier


def get_carrier(name: str | None = None) -> Carrier:
    """The enabled carrier ``name`` (default: the active ``SHIPPING_CARRIER``), one of the
    packages in ``SHIPPING_CARRIERS``. Raises ImproperlyConfigured naming what to set."""
    carrier: Carrier = provider_adapter(SHIPPING, name or settings.SHIPPING_CARRIER)
    return carrier
