"""Shopify's order JSON (REST Admin API / webhook payload) to a ``StorefrontOrderFact``.

Money is in the shop's currency (``currency``) as decimal strings, converted exactly with the
currency's exponent (``integrations.money.decimal_to_minor``). Lines keep their SKU (or
``shopify-variant-<id>`` without one), title, quantity, unit price and weight (``grams``).
The discount is ``total_discounts``, shipping is ``total_shipping_price_set.shop_money`` (else
the sum of ``shipping_lines``). Shopify's address has no separate house number: ``address1``
``"Rua Augusta, 500"`` is split at its last comma when what follows starts with a digit.
Anything that is not the documented shape raises MalformedWebhook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from integrations.exceptions import InvalidMoney
from integrations.money import CURRENCY_CHOICES, decimal_to_minor
from integrations.webhooks.registry import MalformedWebhook, bounded_time
from orders.facts import StorefrontOrderFact
from orders.services import OrderLineInput, ShippingAddress

SOURCE = "shopify"
CURRENCIES = frozenset(code for code, _ in CURRENCY_CHOICES)
PAID = frozenset({"paid"})
REFUNDED = frozenset({"refunded", "partially_refunded"})
MAX_LINES = 500
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_HOUSE_NUMBER = re.compile(r"(.+),\s*([0-9][0-9A-Za-z/-]{0,19})\s*(.*)")


def shopify_time(value: Any, what: str) -> datetime:
    """Shopify's ISO 8601 time with its offset (``2026-03-02T09:00:00-03:00``), in UTC."""
    if not isinstance(value, str) or len(value) > 40 or not _TIME.fullmatch(value):
        raise MalformedWebhook(f"The order's {what} is not an ISO 8601 time with an offset.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedWebhook(f"The order's {what} is not a valid time.") from None
    return bounded_time(parsed)


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _money(value: Any, currency: str, what: str) -> int:
    if value is None:
        return 0
    try:
        return decimal_to_minor(value, currency)
    except InvalidMoney as exc:
        raise MalformedWebhook(f"The order's {what}: {exc}") from None


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedWebhook(f"The order's {what} must be a whole number.")
    return value


def _line(item: Any, currency: str) -> OrderLineInput:
    if not isinstance(item, dict):
        raise MalformedWebhook("A line item must be an object.")
    variant = item.get("variant_id")
    sku = _text(item.get("sku"), 64) or (
        f"shopify-variant-{variant}"
        if isinstance(variant, int)
        else f"shopify-line-{item.get('id')}"
    )
    title = _text(item.get("title"), 200) or _text(item.get("name"), 200) or sku
    variant_title = _text(item.get("variant_title"), 100)
    grams = item.get("grams")
    return OrderLineInput(
        sku=sku[:64],
        description=f"{title} ({variant_title})"[:200] if variant_title else title,
        quantity=_count(item.get("quantity"), "line quantity"),
        unit_amount=_money(item.get("price"), currency, "line price"),
        weight_grams=grams
        if isinstance(grams, int) and not isinstance(grams, bool) and grams > 0
        else None,
    )


def _shipping(payload: Mapping[str, Any], currency: str) -> int:
    price_set = payload.get("total_shipping_price_set")
    shop_money = price_set.get("shop_money") if isinstance(price_set, dict) else None
    if isinstance(shop_money, dict) and "amount" in shop_money:
        return _money(shop_money.get("amount"), currency, "shipping price")
    lines = payload.get("shipping_lines") or []
    if not isinstance(lines, list):
        raise MalformedWebhook("shipping_lines must be a list.")
    return sum(
        _money(line.get("price"), currency, "shipping price")
        for line in lines
        if isinstance(line, dict)
    )


def _address(value: Any) -> ShippingAddress | None:
    if not isinstance(value, dict) or not _text(value.get("address1"), 200):
        return None
    street, number, complement = _text(value.get("address1"), 200), "", ""
    split = _HOUSE_NUMBER.fullmatch(street)
    if split:
        street, number, complement = split.group(1).strip(), split.group(2), split.group(3)
    extra = _text(value.get("address2"), 100)
    name = _text(value.get("name"), 200) or " ".join(
        part
        for part in (_text(value.get("first_name"), 100), _text(value.get("last_name"), 100))
        if part
    )
    return ShippingAddress(
        name=name,
        street=street[:200],
        number=number[:20],
        complement=", ".join(part for part in (complement, extra) if part)[:100],
        city=_text(value.get("city"), 100),
        state=_text(value.get("province_code"), 40) or _text(value.get("province"), 40),
        postal_code=_text(value.get("zip"), 16),
        country=(_text(value.get("country_code"), 2) or "BR").upper(),
    )


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _customer(payload: Mapping[str, Any]) -> tuple[str, str, str]:
    customer = _object(payload.get("customer"))
    address = _object(payload.get("shipping_address"))
    email = (
        _text(payload.get("email"), 254)
        or _text(customer.get("email"), 254)
        or _text(payload.get("contact_email"), 254)
    )
    full_name = " ".join(
        part
        for part in (_text(customer.get("first_name"), 100), _text(customer.get("last_name"), 100))
        if part
    )
    name = full_name or _text(address.get("name"), 200) or email
    phone = (
        _text(customer.get("phone"), 40)
        or _text(payload.get("phone"), 40)
        or _text(address.get("phone"), 40)
    )
    return email, name[:200], phone


def order_id(payload: Mapping[str, Any]) -> str:
    value = payload.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MalformedWebhook('An order webhook must carry the order\'s integer "id".')
    return str(value)


def order_fact(payload: Mapping[str, Any]) -> StorefrontOrderFact:
    """The order in ``payload`` (any of the orders/* topics carries the whole order)."""
    external_id = order_id(payload)
    currency = _text(payload.get("currency"), 3).upper()
    if currency not in CURRENCIES:
        raise MalformedWebhook(
            f"Shopify order {external_id} is in {currency or 'no currency'}; Switchboard keeps "
            f"{', '.join(sorted(CURRENCIES))}."
        )
    items = payload.get("line_items")
    if not isinstance(items, list) or len(items) > MAX_LINES:
        raise MalformedWebhook(f"line_items must be a list of at most {MAX_LINES}.")
    email, name, phone = _customer(payload)
    updated_at = shopify_time(payload.get("updated_at"), "updated_at")
    cancelled = payload.get("cancelled_at")
    financial = _text(payload.get("financial_status"), 40)
    return StorefrontOrderFact(
        source=SOURCE,
        external_id=external_id,
        name=_text(payload.get("name"), 40) or f"#{payload.get('order_number') or external_id}",
        updated_at=updated_at,
        placed_at=shopify_time(payload.get("created_at"), "created_at")
        if payload.get("created_at")
        else updated_at,
        currency=currency,
        customer_email=email,
        customer_name=name,
        customer_phone=phone,
        lines=tuple(
            _line(item, currency)
            for item in items
            if not (isinstance(item, dict) and item.get("quantity") == 0)  # removed by an edit
        ),
        shipping_amount=_shipping(payload, currency),
        discount_amount=_money(payload.get("total_discounts"), currency, "total_discounts"),
        total_amount=_money(payload.get("total_price"), currency, "total_price"),
        shipping_address=_address(payload.get("shipping_address")),
        paid=financial in PAID,
        refunded=financial in REFUNDED,
        cancelled_at=shopify_time(cancelled, "cancelled_at") if cancelled else None,
        cancel_reason=_text(payload.get("cancel_reason"), 60),
    )
