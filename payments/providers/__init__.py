"""Payment providers behind one protocol; ``get_payment_provider`` picks one by settings."""

from __future__ import annotations

from django.conf import settings

from integrations.providers import PAYMENTS, provider_adapter
from payments.providers.base import PaymentProvider


def get_payment_provider(name: str | None = None) -> PaymentProvider:
    """The enabled provider ``name`` (default: the active ``PAYMENT_PROVIDER``), one of the
    packages in ``PAYMENT_PROVIDERS``. Raises ImproperlyConfigured naming what to set."""
    provider: PaymentProvider = provider_adapter(PAYMENTS, name or settings.PAYMENT_PROVIDER)
    return provider
