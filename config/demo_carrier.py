"""The demo's real carrier path, switched on by ``DEMO_CARRIER=melhor_envio``.

``run_demo`` then starts the fake Melhor Envio API (``config/fake_providers/melhor_envio.py``) on
loopback in its own process, hands its address and a per-run app secret and refresh token to the
web server and both clusters through their environment (its ``app_env``), makes Melhor Envio
the active carrier there, and runs ``manage.py seed_demo_carrier``: a few demo customers' orders,
shipped to their homes, are paid, and ``order.paid`` sends them down the same path as real
traffic (``shipping.ship_paid_order``: quote, cart, checkout, generate, print, through the real
adapter and the outbound client). The fake's courier then posts and delivers each parcel and
sends the signed ``order.posted`` / ``order.delivered`` webhooks to ``/webhooks/melhor-envio/``,
which move the shipments along and tell the customers.

The default (``sandbox``) changes nothing: the in-process sandbox carrier and its chaos options.
"""

from __future__ import annotations

import time

from django.db import transaction

from accounts.models import Customer
from config.demo_addresses import demo_address
from integrations.credentials import credential_delete
from integrations.events import recording_history
from orders.models import Order
from orders.services import OrderLineInput, order_place
from payments.models import PaymentMethod
from payments.services import payment_create, payment_mark_succeeded
from shipping.carriers.melhor_envio.client import ACCESS, PROVIDER, REFRESH
from shipping.models import Shipment

SANDBOX, MELHOR_ENVIO = "sandbox", "melhor_envio"
DEMO_CARRIERS = (SANDBOX, MELHOR_ENVIO)
# Orders seeded per run of the demo with the real carrier path.
CARRIER_ORDERS = 3
# The fake's courier: a generated label's parcel is posted this long after, then delivered.
POSTED_AFTER_SECONDS = 15.0
DELIVERED_AFTER_SECONDS = 30.0
CARRIER_LINES = [
    OrderLineInput("CAF-1K", "Specialty coffee 1 kg", 1, 15_900, weight_grams=1_050),
    OrderLineInput(
        "MUG-01",
        "Ceramic mug",
        2,
        5_900,
        weight_grams=350,
        length_mm=120,
        width_mm=90,
        height_mm=100,
    ),
]


def forget_carrier_tokens() -> None:
    """Drop the Melhor Envio tokens an earlier run stored: they were issued by that run's fake,
    which is gone; this run's first call trades its own refresh token."""
    for name in (ACCESS, REFRESH):
        credential_delete(provider=PROVIDER, name=name)


def seed_carrier_orders(*, count: int = CARRIER_ORDERS) -> list[Order]:
    """Place and pay ``count`` orders of the demo's first customers, each shipped to the
    customer's home. The order and its payment are recorded as history (the sandbox took the
    money); the payment's success is not: ``order.paid`` reaches its subscribers like real
    traffic, so the active carrier quotes and labels the parcel (in the task cluster, or inline
    where tasks run synchronously). A new set on every call."""
    from config.demo import DEMO_EMAIL_DOMAIN

    customers = Customer.objects.filter(email__endswith=f"@{DEMO_EMAIL_DOMAIN}").order_by("id")
    orders = []
    for customer in customers[:count]:
        with transaction.atomic(), recording_history():
            order = order_place(
                customer=customer,
                currency="BRL",
                lines=CARRIER_LINES,
                shipping_amount=2_490,
                payment_method=PaymentMethod.PIX,
                shipping_address=demo_address(customer),
            )
            payment = payment_create(
                order=order,
                provider=SANDBOX,
                method=PaymentMethod.PIX,
                provider_payment_id=f"sbx_pay_{order.pk:06d}",
            )
        payment_mark_succeeded(payment=payment)
        orders.append(order)
    return orders


def labelled_shipments(orders: list[Order], *, timeout: float, poll: float = 0.5) -> list[Shipment]:
    """The orders' shipments once each has its label, waiting at most ``timeout`` seconds;
    whatever is labelled by then."""
    deadline = time.monotonic() + timeout
    while True:
        shipments = list(
            Shipment.objects.filter(order__in=orders)
            .exclude(tracking_code="")
            .select_related("order")
            .order_by("id")
        )
        if len(shipments) >= len(orders) or time.monotonic() >= deadline:
            return shipments
        time.sleep(poll)
