"""Shopify: orders pulled from the store and tracking written back.

``webhooks`` receives ``orders/create``, ``orders/updated`` and ``orders/cancelled`` at
``/webhooks/shopify/`` (``X-Shopify-Hmac-Sha256``) and maps each order to a
``StorefrontOrderFact``; ``mapping`` reads Shopify's order JSON (decimal strings to minor
units); ``client`` speaks the Admin REST API through the shared ``ProviderClient``; ``adapter``
writes a bought label's tracking number back as a fulfilment. Shopify's JSON never leaves this
package. See docs/shopify.md.
"""

from __future__ import annotations

import re

from integrations.providers import (
    STOREFRONTS,
    ProviderSetting,
    ProviderSpec,
    WebhookRoute,
    prefixed,
    token,
)

_SHOP = re.compile(r"[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com")
_VERSION = re.compile(r"(20[0-9]{2}-(01|04|07|10))|unstable")


def _shop(value: object) -> str | None:
    if not _SHOP.fullmatch(str(value or "")):
        return "must be the shop's myshopify.com domain, e.g. myshop.myshopify.com"
    return None


def _api_version(value: object) -> str | None:
    if not _VERSION.fullmatch(str(value or "")):
        return "must be a Shopify API version such as 2026-10 (YYYY-01, -04, -07 or -10)"
    return None


def _https_url(value: object) -> str | None:
    text = str(value or "")
    if not text.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        return "must be an https:// URL"
    return None


spec = ProviderSpec(
    family=STOREFRONTS.name,
    name="shopify",
    adapter="orders.sources.shopify.adapter.ShopifyOrderSource",
    enabled_by="SHOPIFY_ENABLED",
    webhooks=(WebhookRoute("shopify", "orders.sources.shopify.webhooks.endpoint"),),
    settings=(
        ProviderSetting("SHOPIFY_SHOP", check=_shop),
        ProviderSetting(
            "SHOPIFY_ACCESS_TOKEN", check=prefixed("shpat_", "shpca_", "shpua_", min_length=16)
        ),
        ProviderSetting("SHOPIFY_WEBHOOK_SECRET", check=token(min_length=16, max_length=255)),
        ProviderSetting("SHOPIFY_API_VERSION", check=_api_version),
        ProviderSetting("SHOPIFY_API_BASE", required=False, check=_https_url),
    ),
    description="Shopify orders in by webhook; tracking numbers back as fulfilments.",
)
