"""Which domain event sends what to the customer: one rule per event type.

A rule turns the event's typed payload (``integrations.events.event_payload``) into a template
key, a subject (e-mail only) and a short body. The texts only use what the emitting service put
in the payload, so building one costs no query. The payload classes live in the emitting apps,
which this app may not import (payments, shipping); each rule names the fields it reads as a
Protocol below, and a test checks every rule against its event type's payload class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from integrations.events import event_payload
from integrations.models import DomainEvent
from integrations.money import format_money
from notifications.channels.base import Attachment


@dataclass(frozen=True)
class CustomerMessage:
    template: str
    subject: str
    body: str
    order: str = ""
    """The number of the order the message is about (empty: none)."""
    attachment: Attachment | None = None
    """A file sent with the message where the channel carries files (the boleto PDF, the Pix
    QR code); the body is then its caption."""


class OrderFields(Protocol):
    @property
    def number(self) -> str: ...


class MoneyFields(Protocol):
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def order(self) -> str: ...


class TrackingFields(Protocol):
    @property
    def order(self) -> str: ...
    @property
    def tracking_code(self) -> str: ...
    @property
    def location(self) -> str: ...


class PaymentFailedFields(MoneyFields, Protocol):
    @property
    def customer_reason(self) -> str: ...
    @property
    def retry_url(self) -> str: ...


class PaymentExpiredFields(Protocol):
    @property
    def order(self) -> str: ...
    @property
    def order_action(self) -> str: ...


class PaymentReissuedFields(MoneyFields, Protocol):
    @property
    def pix_code(self) -> str: ...
    @property
    def retry_url(self) -> str: ...


class ShipmentAlertFields(Protocol):
    @property
    def order(self) -> str: ...
    @property
    def tracking_code(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def promised_delivery_on(self) -> str: ...
    @property
    def notify_customer(self) -> bool: ...


# None: this event, with this payload, tells the customer nothing. The argument is the event
# type's payload, which has at least the fields of the rule's Protocol.
Rule = Callable[[Any], CustomerMessage | None]


def _tracking(payload: TrackingFields) -> str:
    return f" Tracking code: {payload.tracking_code}." if payload.tracking_code else ""


def _money(payload: MoneyFields) -> str:
    return format_money(payload.amount, payload.currency) if payload.currency else ""


def _https(url: str) -> str:
    return url if url.startswith("https://") else ""


def order_paid(payload: OrderFields) -> CustomerMessage:
    number = payload.number or "your order"
    return CustomerMessage(
        order=payload.number,
        template="order_paid",
        subject=f"Payment received for {number}",
        body=f"Thank you! We received your payment for {number}. "
        "We will let you know as soon as it ships.",
    )


def shipment_posted(payload: TrackingFields) -> CustomerMessage:
    number = payload.order or "your order"
    return CustomerMessage(
        order=payload.order,
        template="shipment_posted",
        subject=f"{number} is on its way",
        body=f"Good news: {number} has been handed to the carrier.{_tracking(payload)}",
    )


def shipment_in_transit(payload: TrackingFields) -> CustomerMessage:
    number = payload.order or "your order"
    where = f" (last seen in {payload.location})" if payload.location else ""
    return CustomerMessage(
        order=payload.order,
        template="shipment_in_transit",
        subject=f"{number} is in transit",
        body=f"{number} is travelling to you{where}.{_tracking(payload)}",
    )


def shipment_out_for_delivery(payload: TrackingFields) -> CustomerMessage:
    number = payload.order or "your order"
    return CustomerMessage(
        order=payload.order,
        template="shipment_out_for_delivery",
        subject=f"{number} arrives today",
        body=f"{number} is out for delivery and should reach you today.{_tracking(payload)}",
    )


def shipment_delivered(payload: TrackingFields) -> CustomerMessage:
    number = payload.order or "your order"
    return CustomerMessage(
        order=payload.order,
        template="shipment_delivered",
        subject=f"{number} was delivered",
        body=f"{number} was delivered. We hope you enjoy it!",
    )


def _tracking_line(code: str) -> str:
    return f" Tracking code: {code}." if code else ""


def _day(iso_date: str) -> str:
    try:
        day = date.fromisoformat(iso_date)
    except ValueError:
        return ""
    return f"{day.day} {day:%B %Y}"


def shipment_delayed(payload: ShipmentAlertFields) -> CustomerMessage | None:
    """The delay message: a shipment flagged late (no scan for days, or past the promised
    date). Sent for the first delay of a shipment only (the alert says so)."""
    if not payload.notify_customer:
        return None
    number = payload.order or "your order"
    promised = _day(payload.promised_delivery_on)
    was_due = f" (it was due by {promised})" if promised else ""
    return CustomerMessage(
        template="shipment_delayed",
        subject=f"{number} is taking longer than expected",
        body=f"We are sorry: {number} is taking longer than expected to reach you{was_due}. "
        "We are checking with the carrier and will let you know as soon as it moves."
        f"{_tracking_line(payload.tracking_code)}",
    )


_EXCEPTION_TEXTS = {
    "delivery_failed": (
        "{number}: the carrier could not deliver",
        "The carrier tried to deliver {number} but could not. We are following it up with "
        "them; reply to this message if the address needs a correction.",
    ),
    "returned": (
        "{number} is being returned to us",
        "The carrier is returning {number} to us. We will contact you to arrange a new "
        "delivery or a refund.",
    ),
    "lost": (
        "We are looking for {number}",
        "The carrier cannot locate {number} at the moment. We have opened an enquiry with "
        "them and will contact you with a solution.",
    ),
}


def shipment_exception(payload: ShipmentAlertFields) -> CustomerMessage | None:
    """A shipment flagged in trouble at the carrier: delivery failed, returned, lost."""
    if not payload.notify_customer:
        return None
    number = payload.order or "your order"
    subject, body = _EXCEPTION_TEXTS.get(
        payload.reason,
        (
            "News about {number}",
            "There is a problem with the delivery of {number}; we are on it and will contact you.",
        ),
    )
    return CustomerMessage(
        template="shipment_exception",
        subject=subject.format(number=number),
        body=body.format(number=number) + _tracking_line(payload.tracking_code),
    )


def refund_succeeded(payload: MoneyFields) -> CustomerMessage:
    money = _money(payload)
    what = f"a refund of {money}" if money else "your refund"
    about = f" for {payload.order}" if payload.order else ""
    return CustomerMessage(
        order=payload.order,
        template="refund_succeeded",
        subject="Your refund is on its way",
        body=f"We have processed {what}{about}. "
        "It may take a few business days to show on your statement.",
    )


def payment_failed(payload: PaymentFailedFields) -> CustomerMessage:
    """A declined or refused payment: what the customer can do, with the provider's page to pay
    again when the payment service put one in the event (``retry_url``)."""
    number = payload.order or "your order"
    money = _money(payload)
    of = f" of {money}" if money else ""
    why = payload.customer_reason
    retry = _https(payload.retry_url)
    next_step = (
        f" You can try again here: {retry}"
        if retry
        else " Reply to this message and we will help you complete it."
    )
    return CustomerMessage(
        order=payload.order,
        template="payment_failed",
        subject=f"Your payment for {number} did not go through",
        body=f"We could not take your payment{of} for {number}.{f' {why}' if why else ''}"
        f"{next_step}",
    )


def payment_expired(payload: PaymentExpiredFields) -> CustomerMessage | None:
    """A Pix code not paid in time whose order is cancelled. When a new charge replaces it the
    customer hears from ``payment.reissued`` instead, with the new code."""
    if payload.order_action != "cancel":
        return None
    number = payload.order or "your order"
    return CustomerMessage(
        order=payload.order,
        template="payment_expired",
        subject=f"{number} was cancelled: the Pix code expired",
        body=f"We did not receive the Pix payment for {number} in time, so the code expired "
        "and the order was cancelled. You are welcome to place it again at any time.",
    )


def payment_reissued(payload: PaymentReissuedFields) -> CustomerMessage:
    """A new charge for an order whose Pix code expired: the new code and where to pay."""
    number = payload.order or "your order"
    money = _money(payload)
    of = f" of {money}" if money else ""
    code = payload.pix_code
    pay = _https(payload.retry_url)
    how = "".join(
        [
            f" Pix copy-and-paste code: {code}" if code else "",
            f" You can also pay here: {pay}" if pay else "",
        ]
    )
    return CustomerMessage(
        order=payload.order,
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
    "shipment.delayed": shipment_delayed,
    "shipment.exception": shipment_exception,
    "refund.succeeded": refund_succeeded,
}


def customer_message_for(event: DomainEvent) -> CustomerMessage | None:
    """The message ``event`` sends to its customer, or None when no rule covers its type."""
    rule = RULES.get(event.type)
    payload = event_payload(event)
    if rule is None or payload is None:
        return None
    return rule(payload)
