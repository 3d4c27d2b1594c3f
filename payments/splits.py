"""Split parts: an order's recipients (Asaas wallets) and their shares, checked never to exceed
the amount they split, and frozen onto each payment of the order when it starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.db import transaction

from integrations.money import format_money
from integrations.transitions import lock
from orders.models import Order
from payments.exceptions import SplitNotAllowed
from payments.models import OrderSplitPart, Payment


@dataclass(frozen=True)
class SplitPartInput:
    """One recipient's share: ``wallet_id`` and either ``fixed_amount`` (minor units) or
    ``percent`` (0 < % <= 100)."""

    wallet_id: str
    fixed_amount: int | None = None
    percent: Decimal | None = None


def split_problem(parts: Sequence[SplitPartInput], amount: int, currency: str) -> str:
    """Why ``parts`` cannot split ``amount`` (minor units of ``currency``), or '' when they can:
    each part is a positive fixed amount or a percentage in (0, 100] with at most two decimals,
    no wallet twice, and the fixed amounts
    plus the percentages of ``amount`` (rounded up) never exceed it. The provider applies
    percentages to the net value, which is at most ``amount``, so this bound holds there too."""
    wallets = [part.wallet_id.strip() for part in parts]
    if any(not wallet for wallet in wallets):
        return "Every split part needs a wallet."
    if len(set(wallets)) != len(wallets):
        return "A wallet appears twice in the split."
    fixed = 0
    percent = Decimal(0)
    for part in parts:
        if (part.fixed_amount is None) == (part.percent is None):
            return f"Split part {part.wallet_id}: give a fixed amount or a percentage."
        if part.fixed_amount is not None:
            if part.fixed_amount <= 0:
                return f"Split part {part.wallet_id}: the fixed amount must be positive."
            fixed += part.fixed_amount
        elif part.percent is not None:
            exponent = part.percent.as_tuple().exponent
            if not (
                part.percent.is_finite()
                and isinstance(exponent, int)
                and exponent >= -2
                and 0 < part.percent <= 100
            ):
                return (
                    f"Split part {part.wallet_id}: the percentage must be in (0, 100], "
                    "with at most two decimals."
                )
            percent += part.percent
    share = int((Decimal(amount) * percent / 100).to_integral_value(rounding=ROUND_CEILING))
    if percent > 100 or fixed + share > amount:
        return (
            f"The split parts ({format_money(fixed, currency)} fixed + {percent}%) exceed the "
            f"{format_money(amount, currency)} they split."
        )
    return ""


def _split_parts(stored: Sequence[dict[str, Any]]) -> list[SplitPartInput]:
    return [
        SplitPartInput(
            wallet_id=str(item.get("wallet_id", "")),
            fixed_amount=item.get("fixed_amount"),
            percent=Decimal(str(item["percent"])) if item.get("percent") is not None else None,
        )
        for item in stored
    ]


def payment_split_parts(payment: Payment) -> list[SplitPartInput]:
    """The split frozen onto ``payment`` when it started ([] when its order had none)."""
    return _split_parts(payment.split or [])


def order_split_set(*, order: Order, parts: Sequence[SplitPartInput]) -> list[OrderSplitPart]:
    """Replace the order's split parts with ``parts`` (``[]`` removes them). Payments already
    started keep the split frozen on them; the next payment takes the new one. Raises
    SplitNotAllowed (nothing written) when the parts are malformed or exceed the order's
    total."""
    with transaction.atomic():
        order = lock(order)
        problem = split_problem(parts, order.total_amount, order.currency)
        if problem:
            raise SplitNotAllowed(problem)
        OrderSplitPart.objects.filter(order=order).delete()
        return OrderSplitPart.objects.bulk_create(
            OrderSplitPart(
                order=order,
                wallet_id=part.wallet_id.strip(),
                fixed_amount=part.fixed_amount,
                percent=part.percent,
            )
            for part in parts
        )


def frozen_split(order: Order, amount: int) -> list[dict[str, Any]]:
    """The order's split parts as stored on a payment of ``amount``; SplitNotAllowed when they
    exceed it (a partial payment smaller than the parts' fixed amounts)."""
    rows = list(OrderSplitPart.objects.filter(order=order).order_by("id"))
    parts = [
        SplitPartInput(wallet_id=row.wallet_id, fixed_amount=row.fixed_amount, percent=row.percent)
        for row in rows
    ]
    problem = split_problem(parts, amount, order.currency)
    if problem:
        raise SplitNotAllowed(problem)
    return [
        {"wallet_id": part.wallet_id, "fixed_amount": part.fixed_amount}
        if part.fixed_amount is not None
        else {"wallet_id": part.wallet_id, "percent": str(part.percent)}
        for part in parts
    ]
