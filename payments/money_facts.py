"""Money facts of a payment as its provider reports them: fee and net (settlement currency),
when the funds are available, authorised and captured amounts."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from integrations.transitions import lock
from payments.exceptions import PaymentNotAllowed
from payments.models import Payment


def payment_record_money(
    *,
    payment: Payment,
    fee_amount: int | None = None,
    net_amount: int | None = None,
    settlement_currency: str = "",
    funds_available_at: datetime | None = None,
    amount_authorized: int | None = None,
    amount_captured: int | None = None,
) -> Payment:
    """Record the money facts a provider reports about ``payment``: fee and net (minor units of
    ``settlement_currency``), when the funds become available, and the authorised and captured
    amounts. Only the facts given (not None) are written; the same facts again change nothing
    (idempotent). Raises PaymentNotAllowed (nothing written) for a negative fee or amount, fee
    and net without a currency, or a capture larger than the authorisation."""
    for name, value in (
        ("fee", fee_amount),
        ("authorized amount", amount_authorized),
        ("captured amount", amount_captured),
    ):
        if value is not None and value < 0:
            raise PaymentNotAllowed(f"A payment's {name} is never negative ({value}).")
    if (fee_amount is not None or net_amount is not None) and not settlement_currency:
        raise PaymentNotAllowed("Fee and net need the currency they are in.")
    with transaction.atomic():
        payment = lock(payment)
        changes = {
            "fee_amount": fee_amount,
            "net_amount": net_amount,
            "settlement_currency": settlement_currency.upper() or None,
            "funds_available_at": funds_available_at,
            "amount_authorized": amount_authorized,
            "amount_captured": amount_captured,
        }
        fields = [
            name
            for name, value in changes.items()
            if value is not None and getattr(payment, name) != value
        ]
        for name in fields:
            setattr(payment, name, changes[name])
        authorized, captured = payment.amount_authorized, payment.amount_captured
        if authorized is not None and captured is not None and captured > authorized:
            raise PaymentNotAllowed(
                f"{payment}: captured {captured} is more than the {authorized} authorised."
            )
        if fields:
            payment.save(update_fields=[*fields, "updated_at"])
    return payment
