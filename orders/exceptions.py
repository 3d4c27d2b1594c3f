"""Refusals of the orders app (codes: see ``integrations.exceptions.SwitchboardError``)."""

from __future__ import annotations

from integrations.exceptions import SwitchboardError


class OrderNotAllowed(SwitchboardError):
    """An order the rules refuse (no lines, a non-positive quantity, a negative amount, a
    cancellation without a reason). Nothing was written."""

    code = "order_not_allowed"
    title = "Order not allowed"


class OrderAmountTooLarge(OrderNotAllowed):
    """A quantity or amount past what the database columns hold."""

    code = "amount_too_large"
    title = "Amount too large"


class DiscountExceedsOrder(OrderNotAllowed):
    """The discount is larger than the order's lines and shipping."""

    code = "discount_exceeds_order"
    title = "Discount larger than the order"


class OrderCurrencyMismatch(SwitchboardError):
    """Money in another currency than the order's cannot count towards what it was paid."""

    code = "order_currency_mismatch"
    http_status = 409
    title = "Currency differs from the order's"
