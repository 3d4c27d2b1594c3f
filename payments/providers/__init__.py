"""Payment providers behind one protocol; ``get_payment_provider`` picks one by settings."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from payments.providers.base import PaymentProvider

_instances: dict[str, PaymentProvider] = {}


def get_payment_provider(name: str | None = None) -> PaymentProvider:
    """The provider named ``name`` (default ``PAYMENT_PROVIDER``) from ``PAYMENT_PROVIDERS``."""
    name = name or settings.PAYMENT_PROVIDER
    if name not in _instances:
        try:
            path = settings.PAYMENT_PROVIDERS[name]
        except KeyError:
            raise ImproperlyConfigured(
                f"Payment provider {name!r} is not in PAYMENT_PROVIDERS."
            ) from None
        _instances[name] = import_string(path)()
    return _instances[name]
