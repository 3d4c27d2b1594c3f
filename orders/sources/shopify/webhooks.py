"""``POST /webhooks/shopify/``: ``orders/create``, ``orders/updated`` and ``orders/cancelled``,
verified and mapped to StorefrontOrderFacts.

``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw body keyed with the app's client
secret (``SHOPIFY_WEBHOOK_SECRET``; during a rotation also ``SHOPIFY_WEBHOOK_SECRET_PREVIOUS``),
compared in constant time. Missing, forged or made with a retired secret -> 401, nothing stored
as processable; so is a delivery whose ``X-Shopify-Shop-Domain`` names another shop. The body
signs no time, so a replayed body is stopped by the inbox (same ``X-Shopify-Webhook-Id``) and,
under another id, by the order's watermark (its ``updated_at`` is not newer): it changes
nothing.

The topic is ``X-Shopify-Topic``; the inbox's event id is ``X-Shopify-Webhook-Id`` (the same on
Shopify's retries of one delivery), else one derived from the topic, the order id and its
``updated_at``. Every orders/* topic carries the whole order, so any of them places an order we
have not seen (an ``orders/updated`` overtaking its ``orders/create``). Other topics are stored
as ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    load_json,
    storable_text,
)
from orders.facts import storefront_order_fact_apply
from orders.sources.shopify.mapping import order_fact, order_id, shopify_time

SIGNATURE_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
SHOP_HEADER = "x-shopify-shop-domain"
MAX_SIGNATURE_LENGTH = 200
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _secrets() -> list[str]:
    values = [settings.SHOPIFY_WEBHOOK_SECRET, settings.SHOPIFY_WEBHOOK_SECRET_PREVIOUS]
    return [v for v in values if v]


def signature(secret: str, body: bytes) -> str:
    """Shopify's ``X-Shopify-Hmac-Sha256`` of ``body``: base64 of HMAC-SHA256(secret, body)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@in_event_context
def handle_order(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    return HandlerOutcome(
        affected=storefront_order_fact_apply(fact=order_fact(parsed.payload)).affected
    )


class ShopifyWebhookEndpoint:
    name = "shopify"
    secret_headers = frozenset({SIGNATURE_HEADER})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        secrets = _secrets()
        if not secrets:
            raise SignatureRejected("No SHOPIFY_WEBHOOK_SECRET configured.")
        given = _header(headers, SIGNATURE_HEADER).strip()
        if not given:
            raise SignatureRejected(f"Missing {SIGNATURE_HEADER} header.")
        if len(given) > MAX_SIGNATURE_LENGTH:
            raise SignatureRejected(f"{SIGNATURE_HEADER} header too long.")
        matched = False
        for secret in secrets:
            matched |= hmac.compare_digest(given.encode(), signature(secret, body).encode())
        if not matched:
            raise SignatureRejected(f"Wrong {SIGNATURE_HEADER}.")
        shop = _header(headers, SHOP_HEADER).strip().lower()
        if shop and shop != settings.SHOPIFY_SHOP:
            raise SignatureRejected(f"{SHOP_HEADER} names another shop.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        payload: Any = load_json(body)
        if not isinstance(payload, dict):
            raise MalformedWebhook("Body must be a JSON object.")
        topic = _header(headers, TOPIC_HEADER).strip()[:100]
        if not topic:
            raise MalformedWebhook(f"Missing {TOPIC_HEADER} header.")
        if topic not in ORDER_TOPICS:
            object_id = str(payload.get("id", ""))[:200]
            seed = f"{topic}|{object_id}|{payload.get('updated_at', '')}"
            return ParsedWebhook(
                event_id=self._event_id(headers, seed), event_type=topic, payload=payload
            )
        external_id = order_id(payload)
        updated_at = shopify_time(payload.get("updated_at"), "updated_at")
        seed = f"{topic}|{external_id}|{updated_at.isoformat()}"
        return ParsedWebhook(
            event_id=self._event_id(headers, seed),
            event_type=topic,
            payload=payload,
            occurred_at=updated_at,
            object_id=external_id,
        )

    @staticmethod
    def _event_id(headers: Mapping[str, str], seed: str) -> str:
        given = _header(headers, WEBHOOK_ID_HEADER).strip()
        if given and len(given) <= 200 and storable_text(given):
            return given
        return f"shopify_{hashlib.sha256(seed.encode()).hexdigest()[:40]}"

    def handler_for(self, event_type: str) -> Handler | None:
        return handle_order if event_type in ORDER_TOPICS else None


endpoint = ShopifyWebhookEndpoint()
