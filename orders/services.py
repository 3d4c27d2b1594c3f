"""Order lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import Customer, User
from integrations.events import record_event
from integrations.transitions import ensure_transition, lock
from orders.exceptions import (
    DiscountExceedsOrder,
    OrderAmountTooLarge,
    OrderCurrencyMismatch,
    OrderNotAllowed,
)
from orders.models import (
    IDEMPOTENCY_KEY_TTL,
    ORDER_TRANSITIONS,
    Order,
    OrderIdempotencyKey,
    OrderLine,
    OrderStatus,
    PaidStatus,
    paid_status_for,
)


@dataclass(frozen=True)
class OrderLineInput:
    sku: str
    description: str
    quantity: int
    unit_amount: int
    weight_grams: int | None = None
    length_mm: int | None = None
    width_mm: int | None = None
    height_mm: int | None = None


@dataclass(frozen=True)
class ShippingAddress:
    """Where an order ships to. ``postal_code`` keeps digits (and letters, for countries that
    use them) only; ``country`` is ISO 3166-1 alpha-2."""

    name: str
    street: str
    number: str
    city: str
    state: str
    postal_code: str
    country: str = "BR"
    complement: str = ""
    district: str = ""

    def order_fields(self) -> dict[str, str]:
        """The ``Order.ship_to_*`` columns for this address."""
        postal_code = "".join(ch for ch in self.postal_code if ch.isalnum()).upper()
        return {
            "ship_to_name": self.name.strip(),
            "ship_to_street": self.street.strip(),
            "ship_to_number": self.number.strip(),
            "ship_to_complement": self.complement.strip(),
            "ship_to_district": self.district.strip(),
            "ship_to_city": self.city.strip(),
            "ship_to_state": self.state.strip().upper(),
            "ship_to_postal_code": postal_code,
            "ship_to_country": self.country.strip().upper(),
        }


# The largest amount the orders' and payments' amount columns hold (64-bit signed integers).
AMOUNT_MAX = 2**63 - 1
# The largest quantity an order line's column holds (32-bit signed on PostgreSQL).
QUANTITY_MAX = 2**31 - 1


def order_totals(
    *, lines: Sequence[OrderLineInput], shipping_amount: int = 0, discount_amount: int = 0
) -> tuple[int, int]:
    """(subtotal, total) of an order with these lines; computes, writes nothing.

    Raises OrderNotAllowed for no lines, a non-positive quantity or negative amounts,
    OrderAmountTooLarge for a quantity past ``QUANTITY_MAX`` or any amount past ``AMOUNT_MAX``,
    and DiscountExceedsOrder for a discount larger than the order."""
    if not lines:
        raise OrderNotAllowed("An order needs at least one line.")
    if any(line.quantity <= 0 or line.unit_amount < 0 for line in lines):
        raise OrderNotAllowed("Quantities must be positive and unit amounts not negative.")
    if shipping_amount < 0 or discount_amount < 0:
        raise OrderNotAllowed("Shipping and discount amounts cannot be negative.")
    if any(line.quantity > QUANTITY_MAX for line in lines):
        raise OrderAmountTooLarge(f"A line's quantity must not exceed {QUANTITY_MAX}.")
    subtotal = sum(line.quantity * line.unit_amount for line in lines)
    # Every line total is at most the subtotal: these two bound every amount stored.
    if subtotal + shipping_amount > AMOUNT_MAX or discount_amount > AMOUNT_MAX:
        raise OrderAmountTooLarge(f"Amounts must not exceed {AMOUNT_MAX} minor units.")
    total = subtotal + shipping_amount - discount_amount
    if total < 0:
        raise DiscountExceedsOrder("The discount is larger than the order.")
    return subtotal, total


def order_place(
    *,
    customer: Customer,
    currency: str,
    lines: Sequence[OrderLineInput],
    shipping_amount: int = 0,
    discount_amount: int = 0,
    payment_method: str = "",
    actor: User | None = None,
    placed_at: datetime | None = None,
    shipping_address: ShippingAddress | None = None,
    source: str = "",
    external_id: str = "",
    external_updated_at: datetime | None = None,
) -> Order:
    """Place an order: totals are computed from the lines, never taken from the caller; the
    shipping address, when given, is stored on the order for the carriers. An order pulled
    from a storefront keeps its ``source``, the storefront's ``external_id`` (unique per source:
    a second one raises IntegrityError) and the ``external_updated_at`` of the version placed.

    Raises OrderNotAllowed (or its subclasses) as ``order_totals`` does (bad lines or amounts, a
    discount larger than the order, an amount too large to store)."""
    subtotal, total = order_totals(
        lines=lines, shipping_amount=shipping_amount, discount_amount=discount_amount
    )
    placed_at = placed_at or timezone.now()
    with transaction.atomic():
        order = Order.objects.create(
            number=f"tmp-{uuid.uuid4().hex[:16]}",
            customer=customer,
            currency=currency.upper(),
            payment_method=payment_method,
            subtotal_amount=subtotal,
            shipping_amount=shipping_amount,
            discount_amount=discount_amount,
            total_amount=total,
            placed_at=placed_at,
            status_changed_at=placed_at,
            source=source,
            external_id=external_id,
            external_updated_at=external_updated_at,
            **(shipping_address.order_fields() if shipping_address is not None else {}),
        )
        order.number = f"SB-{order.pk:06d}"
        order.save(update_fields=["number"])
        OrderLine.objects.bulk_create(
            OrderLine(
                order=order,
                sku=line.sku,
                description=line.description,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                total_amount=line.quantity * line.unit_amount,
                weight_grams=line.weight_grams,
                length_mm=line.length_mm,
                width_mm=line.width_mm,
                height_mm=line.height_mm,
            )
            for line in lines
        )
        record_event(
            type="order.placed",
            customer=customer,
            subject=order,
            actor=actor,
            actor_label="system",
            occurred_at=placed_at,
            data={
                "number": order.number,
                "amount": total,
                "currency": order.currency,
                "items": sum(line.quantity for line in lines),
            },
        )
    return order


def order_place_again(*, order: Order, actor: User | None = None) -> Order:
    """A new order for the same customer with ``order``'s lines, amounts, payment method and
    shipping address (support re-placing a lost parcel or a failed payment). The original is
    left as it is."""
    address = (
        ShippingAddress(
            name=order.ship_to_name,
            street=order.ship_to_street,
            number=order.ship_to_number,
            complement=order.ship_to_complement,
            district=order.ship_to_district,
            city=order.ship_to_city,
            state=order.ship_to_state,
            postal_code=order.ship_to_postal_code,
            country=order.ship_to_country,
        )
        if order.ship_to_postal_code
        else None
    )
    return order_place(
        customer=order.customer,
        currency=order.currency,
        payment_method=order.payment_method,
        lines=[
            OrderLineInput(
                line.sku,
                line.description,
                line.quantity,
                line.unit_amount,
                weight_grams=line.weight_grams,
                length_mm=line.length_mm,
                width_mm=line.width_mm,
                height_mm=line.height_mm,
            )
            for line in order.lines.all()
        ],
        shipping_amount=order.shipping_amount,
        discount_amount=order.discount_amount,
        actor=actor,
        shipping_address=address,
    )


def _order_transition(
    *,
    order: Order,
    target: OrderStatus,
    event_type: str,
    actor: User | None,
    occurred_at: datetime | None,
    extra: dict[str, str] | None = None,
) -> Order:
    with transaction.atomic():
        order = lock(order, "customer")
        ensure_transition(
            entity=str(order), current=order.status, target=target, allowed=ORDER_TRANSITIONS
        )
        order.status = target
        order.status_changed_at = occurred_at or timezone.now()
        order.save(update_fields=["status", "status_changed_at", "updated_at"])
        record_event(
            type=event_type,
            customer=order.customer,
            subject=order,
            actor=actor,
            actor_label="system",
            occurred_at=occurred_at,
            data={"number": order.number, **(extra or {})},
        )
    return order


def order_mark_paid(
    *, order: Order, actor: User | None = None, occurred_at: datetime | None = None
) -> Order:
    """placed -> paid. Raises InvalidTransition from any other status."""
    return _order_transition(
        order=order,
        target=OrderStatus.PAID,
        event_type="order.paid",
        actor=actor,
        occurred_at=occurred_at,
    )


def order_mark_fulfilling(
    *, order: Order, actor: User | None = None, occurred_at: datetime | None = None
) -> Order:
    return _order_transition(
        order=order,
        target=OrderStatus.FULFILLING,
        event_type="order.fulfilling",
        actor=actor,
        occurred_at=occurred_at,
    )


def order_mark_shipped(
    *, order: Order, actor: User | None = None, occurred_at: datetime | None = None
) -> Order:
    return _order_transition(
        order=order,
        target=OrderStatus.SHIPPED,
        event_type="order.shipped",
        actor=actor,
        occurred_at=occurred_at,
    )


def order_mark_delivered(
    *, order: Order, actor: User | None = None, occurred_at: datetime | None = None
) -> Order:
    return _order_transition(
        order=order,
        target=OrderStatus.DELIVERED,
        event_type="order.delivered",
        actor=actor,
        occurred_at=occurred_at,
    )


def order_cancel(
    *, order: Order, reason: str, actor: User | None = None, occurred_at: datetime | None = None
) -> Order:
    """Only an unpaid order can be cancelled; a paid one is refunded instead."""
    if not reason.strip():
        raise OrderNotAllowed("Cancelling an order needs a reason.")
    return _order_transition(
        order=order,
        target=OrderStatus.CANCELLED,
        event_type="order.cancelled",
        actor=actor,
        occurred_at=occurred_at,
        extra={"reason": reason.strip()},
    )


def order_mark_refunded(
    *, order: Order, actor: User | None = None, occurred_at: datetime | None = None
) -> Order:
    return _order_transition(
        order=order,
        target=OrderStatus.REFUNDED,
        event_type="order.refunded",
        actor=actor,
        occurred_at=occurred_at,
    )


def order_flag(*, order: Order, reason: str, actor: User | None = None) -> Order:
    """Flag the order for a person's attention (an open dispute). Changes no status. Idempotent
    for the same reason."""
    with transaction.atomic():
        order = lock(order, "customer")
        if order.is_flagged and order.flag_reason == reason[:200]:
            return order
        order.is_flagged = True
        order.flag_reason = reason[:200]
        order.save(update_fields=["is_flagged", "flag_reason", "updated_at"])
        record_event(
            type="order.flagged",
            customer=order.customer,
            subject=order,
            actor=actor,
            actor_label="system",
            data={"number": order.number, "reason": order.flag_reason},
        )
    return order


ADDRESS_EDITABLE_STATUSES = frozenset({OrderStatus.PLACED, OrderStatus.PAID})


def order_storefront_sync(
    *, order: Order, updated_at: datetime, shipping_address: ShippingAddress | None
) -> tuple[Order, bool]:
    """Take a newer version of a storefront's order: raise its watermark to ``updated_at`` and
    take the storefront's shipping address while no shipment is under way (placed or paid).
    A version no newer than the one applied changes nothing: ``(order, False)``; else
    ``(order, True)``. Statuses move through their own services (paid, cancelled, flagged)."""
    with transaction.atomic():
        order = lock(order, "customer")
        if order.external_updated_at is not None and updated_at <= order.external_updated_at:
            return order, False
        order.external_updated_at = updated_at
        fields = ["external_updated_at", "updated_at"]
        if shipping_address is not None and order.status in ADDRESS_EDITABLE_STATUSES:
            for name, value in shipping_address.order_fields().items():
                if getattr(order, name) != value:
                    setattr(order, name, value)
                    fields.append(name)
        order.save(update_fields=fields)
    return order, True


def order_idempotency_key_claim(*, client: str, key: str, request_hash: str) -> OrderIdempotencyKey:
    """Claim ``key`` for ``client``'s order being placed in the caller's transaction; the caller
    stores the answer with ``order_idempotency_key_answer`` before committing. An expired claim
    of the same key is replaced. Raises IntegrityError when the key is live already (another
    request committed it, or commits it while this one waits on the unique constraint)."""
    cutoff = timezone.now() - IDEMPOTENCY_KEY_TTL
    OrderIdempotencyKey.objects.filter(client=client, key=key, created_at__lt=cutoff).delete()
    return OrderIdempotencyKey.objects.create(
        client=client, key=key, request_hash=request_hash, status_code=0, response_body=""
    )


def order_idempotency_key_answer(
    *, claim: OrderIdempotencyKey, order: Order, status_code: int, response_body: str
) -> OrderIdempotencyKey:
    """Keep the answer given to the request that claimed the key, to replay it to retries."""
    claim.order = order
    claim.status_code = status_code
    claim.response_body = response_body
    claim.save(update_fields=["order", "status_code", "response_body"])
    return claim


PRUNE_BATCH = 1000


def order_idempotency_keys_prune(*, now: datetime | None = None) -> int:
    """Delete the orders API's idempotency keys older than ``IDEMPOTENCY_KEY_TTL`` and return how
    many went. Idempotent; deletes in short batches so other writers never wait long. Run hourly
    by the ``orders-idempotency-prune`` periodic job (``integrations.schedules``)."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_KEY_TTL
    expired = OrderIdempotencyKey.objects.filter(created_at__lt=cutoff)
    pruned = 0
    while batch := list(expired.values_list("pk", flat=True)[:PRUNE_BATCH]):
        pruned += OrderIdempotencyKey.objects.filter(pk__in=batch).delete()[0]
    return pruned


def order_record_money(
    *, order: Order, received: int = 0, returned: int = 0, currency: str
) -> tuple[Order, PaidStatus]:
    """Add ``received`` (a payment succeeded) and subtract ``returned`` (a refund completed),
    minor units in ``currency``, to the order's ``amount_paid`` and recompute its
    ``paid_status``, under the order's row lock (several payments of one order settle in any
    order and none is lost). Returns the locked order and its paid status before the change.

    Raises OrderCurrencyMismatch (nothing written) for money in another currency than the
    order's, and OrderNotAllowed for a negative ``received`` or ``returned``. ``amount_paid``
    never goes below zero."""
    if received < 0 or returned < 0:
        raise OrderNotAllowed("Money received or returned is never negative.")
    with transaction.atomic():
        order = lock(order, "customer")
        if currency.upper() != order.currency:
            raise OrderCurrencyMismatch(
                f"{order} is in {order.currency}; {currency.upper()} cannot be counted on it."
            )
        before = PaidStatus(order.paid_status)
        order.amount_paid = max(order.amount_paid + received - returned, 0)
        order.paid_status = paid_status_for(
            amount_paid=order.amount_paid, total_amount=order.total_amount
        )
        order.save(update_fields=["amount_paid", "paid_status", "updated_at"])
    return order, before
