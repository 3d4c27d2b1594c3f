"""The Shopify Admin REST API (``/admin/api/<SHOPIFY_API_VERSION>/``) through the shared
``ProviderClient``: timeouts, retries of reads, the ProviderCall ledger and the breaker.

Every call carries ``X-Shopify-Access-Token`` (a secret header: never in a row or a log line).
Shopify's REST API takes no idempotency key, so a POST is never replayed blindly by the client
after an answer that may have been applied (5xx, read timeout); the adapter re-reads the order's
fulfilments instead and posts again only when nothing got through.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests
from django.conf import settings
from django.db import models

from integrations.exceptions import ProviderUnavailable
from integrations.outbound.client import DEFAULT_SECRET_HEADERS, ProviderClient

PROVIDER = "shopify"
TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 - a header name


def api_base() -> str:
    site = settings.SHOPIFY_API_BASE or f"https://{settings.SHOPIFY_SHOP}"
    return f"{site.rstrip('/')}/admin/api/{settings.SHOPIFY_API_VERSION}"


def loads(response: requests.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        raise ProviderUnavailable(
            f"{PROVIDER}: the answer is not JSON (HTTP {response.status_code}).",
            provider=PROVIDER,
            status_code=response.status_code,
        ) from None


class ShopifyClient:
    """One method per call; each returns decoded JSON. Raises ``ProviderRejected`` (4xx but
    429), ``ProviderUnavailable``/``CircuitOpen`` (retry later) and ``RuntimeError`` inside
    ``transaction.atomic``."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        self.http = ProviderClient(
            PROVIDER,
            api_base(),
            default_headers={
                TOKEN_HEADER: settings.SHOPIFY_ACCESS_TOKEN,
                "Accept": "application/json",
            },
            secret_headers=(*DEFAULT_SECRET_HEADERS, TOKEN_HEADER.lower()),
            secret_values=(settings.SHOPIFY_ACCESS_TOKEN,),
            session=session,
            **kwargs,
        )

    def _get(self, operation: str, path: str, subject: models.Model | None) -> Any:
        return loads(self.http.request(operation, "GET", path, subject=subject))

    def fulfillment_orders(
        self, order_id: str, *, subject: models.Model | None = None
    ) -> list[dict[str, Any]]:
        """``GET orders/{id}/fulfillment_orders.json``: the order's fulfilment orders."""
        answer = self._get(
            "fulfillment_orders.list", f"orders/{order_id}/fulfillment_orders.json", subject
        )
        found = answer.get("fulfillment_orders") if isinstance(answer, dict) else None
        return [fo for fo in found or [] if isinstance(fo, dict)]

    def fulfillments(
        self, order_id: str, *, subject: models.Model | None = None
    ) -> list[dict[str, Any]]:
        """``GET orders/{id}/fulfillments.json``: what the order has been fulfilled with."""
        answer = self._get("fulfillments.list", f"orders/{order_id}/fulfillments.json", subject)
        found = answer.get("fulfillments") if isinstance(answer, dict) else None
        return [f for f in found or [] if isinstance(f, dict)]

    def create_fulfillment(
        self, fulfillment: dict[str, Any], *, subject: models.Model | None = None
    ) -> dict[str, Any]:
        """``POST fulfillments.json`` with ``{"fulfillment": ...}``; the fulfilment made."""
        response = self.http.request(
            "fulfillments.create",
            "POST",
            "fulfillments.json",
            json={"fulfillment": fulfillment},
            subject=subject,
        )
        answer = loads(response)
        made = answer.get("fulfillment") if isinstance(answer, dict) else None
        if not isinstance(made, dict) or made.get("id") is None:
            raise ProviderUnavailable(
                f"{PROVIDER}: no fulfillment in the answer.", provider=PROVIDER
            )
        return made
