"""Which domain event sends what to the customer: one rule per event type.

A rule turns the event's data into a template key, a subject (e-mail only) and a short body. The
texts only use what the emitting service put in the event's data, so building one costs no query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from integrations.models import DomainEvent
from integrations.money import format_money


@dataclass(frozen=True)
class CustomerMessage:
    template: str
    subject: str
    body: str


# None: this event, with this data, tells the customer nothing.
Rule = Callable[[Mapping[str, Any]], CustomerMessage | None]


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    return str(data.get(key) or default)


def _tracking(data: Mapping[str, Any]) -> str:
    code = _text(data, "tracking_code")
    return f" Tracking code: {code}." if code else ""


def order_paid(data: Mapping[str, Any]) -> CustomerMessage:
    number = _text(data, "number", "your order")
    return CustomerMessage(
        template="order_paid",
        subject=f"Payment received for {number}",
        body=f"Thank you! We received your payment for {number}. "
        "We will let you know as soon as it ships.",
    )


def shipment_posted(data: Mapping[str, Any]) -> CustomerMessage:
    number = _text(data, "order", "your order")
    return CustomerMessage(
        template="shipment_posted",
        subject=f"{number} is on its way",
        body=f"Good news: {number} has been handed to the carrier.{_tracking(data)}",
    )


def shipment_in_transit(data: Mapping[str, Any]) -> CustomerMessage:
    number = _text(data, "order", "your order")
    location = _text(data, "location")
    where = f" (last seen in {location})" if location else ""
    return CustomerMessage(
        template="shipment_in_transit",
        subject=f"{number} is in transit",
        body=f"{number} is travelling to you{where}.{_tracking(data)}",
    )


def shipment_out_for_delivery(data: Mapping[str, Any]) -> CustomerMessage:
    number = _text(data, "order", "your order")
    return CustomerMessage(
        template="shipment_out_for_delivery",
        subject=f"{number} arrives today",
        body=f"{number} is out for delivery and should reach you today.{_tracking(data)}",
    )


def shipment_delivered(data: Mapping[str, Any]) -> CustomerMessage:
    number = _text(data, "order", "your order")
    return CustomerMessage(
        template="shipment_delivered",
        subject=f"{number} was delivered",
        body=f"{number} was delivered. We hope you enjoy it!",
    )


def refund_succeeded(data: Mapping[str, Any]) -> CustomerMessage:
    amount, currency = data.get("amount"), data.get("currency")
    what = (
        f"a refund of {format_money(amount, str(currency))}"
        if isinstance(amount, int) and currency
        else "your refund"
    )
    number = _text(data, "order")
    about = f" for {number}" if number else ""
    return CustomerMessage(
        template="refund_succeeded",
        subject="Your refund is on its way",
        body=f"We have processed {what}{about}. "
        "It may take a few business days to show on your statement.",
    )


def _money(data: Mapping[str, Any]) -> str:
    amount, currency = data.get("amount"), data.get("currency")
    return format_money(amount, str(currency)) if isinstance(amount, int) and currency else ""


def _link(data: Mapping[str, Any], key: str) -> str:
    url = _text(data, key)
    return url if url.startswith("https://") else ""


def payment_failed(data: Mapping[str, Any]) -> CustomerMessage:
    """A declined or refused payment: what the customer can do, with the provider's page to pay
    again when the payment service put one in the event (``retry_url``)."""
    number = _text(data, "order", "your order")
    money = _money(data)
    of = f" of {money}" if money else ""
    why = _text(data, "customer_reason")
    retry = _link(data, "retry_url")
    next_step = (
        f" You can try again here: {retry}"
        if retry
        else " Reply to this message and we will help you complete it."
    )
    return CustomerMessage(
        template="payment_failed",
        subject=f"Your payment for {number} did not go through",
        body=f"We could not take your payment{of} for {number}.{f' {why}' if why else ''}"
        f"{next_step}",
    )


def payment_expired(data: Mapping[str, Any]) -> CustomerMessage | None:
    """A Pix code not paid in time whose order is cancelled. When a new charge replaces it the
    customer hears from ``payment.reissued`` instead, with the new code."""
    if _text(data, "order_action") != "cancel":
        return None
    number = _text(data, "order", "your order")
    return CustomerMessage(
        template="payment_expired",
        subject=f"{number} was cancelled: the Pix code expired",
        body=f"We did not receive the Pix payment for {number} in time, so the code expired "
        "and the order was cancelled. You are welcome to place it again at any time.",
    )


def payment_reissued(data: Mapping[str, Any]) -> CustomerMessage:
    """A new charge for an order whose Pix code expired: the new code and where to pay."""
    number = _text(data, "order", "your order")
    money = _money(data)
    of = f" of {money}" if money else ""
    code = _text(data, "pix_code")
    pay = _link(data, "retry_url")
    how = "".join(
        [
            f" Pix copy-and-paste code: {code}" if code else "",
            f" You can also pay here: {pay}" if pay else "",
        ]
    )
    return CustomerMessage(
        template="payment_reissued",
        subject=f"A new Pix code for {number}",
        body=f"The Pix code for {number} expired before it was paid, so here is a new one "
        f"for the payment{of}.{how or ' Reply to this message and we will send it to you.'}",
    )


RULES: dict[str, Rule] = {
    "order.paid": order_paid,
    "payment.failed": payment_failed,
    "payment.expired": payment_expired,
    "payment.reissued": payment_reissued,
    "shipment.posted": shipment_posted,
    "shipment.in_transit": shipment_in_transit,
    "shipment.out_for_delivery": shipment_out_for_delivery,
    "shipment.delivered": shipment_delivered,
    "refund.succeeded": refund_succeeded,
}


def customer_message_for(event: DomainEvent) -> CustomerMessage | None:
    """The message ``event`` sends to its customer, or None when no rule covers its type."""
    rule = RULES.get(event.type)
    return rule(event.data or {}) if rule is not None else None
