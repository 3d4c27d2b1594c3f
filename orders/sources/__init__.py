"""Storefronts that send their orders in (the ``storefronts`` family, listed in
``ORDER_SOURCES``): each package receives its platform's order webhooks, maps them to
``orders.facts.StorefrontOrderFact`` and writes fulfilment (tracking) back through its adapter."""

from __future__ import annotations

from integrations.providers import STOREFRONTS, enabled_specs, provider_adapter
from orders.sources.base import OrderSource


def get_order_source(name: str) -> OrderSource:
    """The enabled storefront ``name`` (an order's ``source``), one of the packages in
    ``ORDER_SOURCES``. Raises ImproperlyConfigured naming what to set."""
    source: OrderSource = provider_adapter(STOREFRONTS, name)
    return source


def order_source_enabled(name: str) -> bool:
    return name in enabled_specs(STOREFRONTS)
