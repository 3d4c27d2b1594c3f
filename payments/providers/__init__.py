"""Payment providers behind one protocol; ``get_payment_provider`` picks one by settings."""

from __future__ import annotations

from django.conf import settings

from integrations.adapters import adapter_from_registry
from payments.providers.base import PaymentProvider


def get_payment_provider(name: str | None = None) -> PaymentProvider:
    """The provider named ``name`` (default ``PAYMENT_PROVIDER``) from ``PAYMENT_PROVIDERS``.

    Raises ImproperlyConfigured for a name the registry does not list."""
    provider: PaymentProvider = adapter_from_registry(
        "PAYMENT_PROVIDERS", name or settings.PAYMENT_PROVIDER
    )
    return provider
