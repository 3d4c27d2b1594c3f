"""``OrderSource`` for Shopify: a bought label's tracking number written back as a fulfilment
(Fulfillment Orders API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import structlog
from django.conf import settings
from django.db import models

from integrations.exceptions import CircuitOpen, ProviderUnavailable
from orders.sources.base import FulfillmentReport, FulfillmentResult
from orders.sources.shopify.client import PROVIDER, ShopifyClient

log = structlog.get_logger(__name__)

FULFILLABLE = frozenset({"open", "in_progress"})
"""Fulfilment-order statuses that take a new fulfilment (closed, cancelled, on_hold, ... do
not)."""
DEAD_FULFILLMENT = frozenset({"cancelled", "error", "failure"})
ROUNDS = 3
"""Read-then-post rounds per report: a POST that fails in a way that may have been applied is
followed by a fresh read before any second POST."""


def _tracking_numbers(fulfillment: dict[str, Any]) -> set[str]:
    numbers = {str(n) for n in fulfillment.get("tracking_numbers") or [] if n}
    if fulfillment.get("tracking_number"):
        numbers.add(str(fulfillment["tracking_number"]))
    return numbers


class ShopifyOrderSource:
    name = PROVIDER

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.sleep = sleep

    def _client(self) -> ShopifyClient:
        session = self.session_factory() if self.session_factory else None
        return ShopifyClient(session=session, sleep=self.sleep)

    def report_fulfillment(
        self, report: FulfillmentReport, *, subject: models.Model | None = None
    ) -> FulfillmentResult:
        """Fulfil every open fulfilment order of the Shopify order with the tracking number
        and company, unless a live fulfilment already carries that number (an earlier attempt
        got through): then nothing is posted. Idempotent. Raises ProviderUnavailable (the
        store is down; retry later) and ProviderRejected (Shopify refused: a closed fulfilment
        order, a revoked token)."""
        client = self._client()
        order_id = report.external_order_id
        for attempt in range(1, ROUNDS + 1):
            already = [
                str(f["id"])
                for f in client.fulfillments(order_id, subject=subject)
                if report.tracking_number in _tracking_numbers(f)
                and str(f.get("status") or "") not in DEAD_FULFILLMENT
            ]
            if already:
                return FulfillmentResult(fulfillment_ids=tuple(already), created=False)
            open_orders = [
                fo
                for fo in client.fulfillment_orders(order_id, subject=subject)
                if fo.get("status") in FULFILLABLE
                and "create_fulfillment" in (fo.get("supported_actions") or ["create_fulfillment"])
            ]
            if not open_orders:
                log.warning(
                    "shopify.nothing_to_fulfil", order=report.reference, shopify_order=order_id
                )
                return FulfillmentResult(fulfillment_ids=(), created=False)
            try:
                made = client.create_fulfillment(
                    {
                        "line_items_by_fulfillment_order": [
                            {"fulfillment_order_id": fo["id"]} for fo in open_orders
                        ],
                        "tracking_info": {
                            "number": report.tracking_number,
                            "company": report.tracking_company,
                        },
                        "notify_customer": bool(settings.SHOPIFY_NOTIFY_CUSTOMER),
                    },
                    subject=subject,
                )
            except CircuitOpen:
                raise
            except ProviderUnavailable:
                if attempt == ROUNDS:
                    raise
                log.warning("shopify.fulfillment_uncertain", order=report.reference, round=attempt)
                continue
            return FulfillmentResult(fulfillment_ids=(str(made["id"]),), created=True)
        raise AssertionError("unreachable")  # pragma: no cover
