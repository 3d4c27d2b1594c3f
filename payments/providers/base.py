"""The payment provider protocol. Adapters take and return these frozen dataclasses; SDK objects
and raw JSON never leave an adapter package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class SplitShare:
    """One recipient's share of a payment: ``fixed_amount`` (minor units) or ``percent``."""

    wallet_id: str
    fixed_amount: int | None = None
    percent: Decimal | None = None


@dataclass(frozen=True)
class PaymentRequest:
    reference: str
    """Our id for the payment (``payment:<pk>``), also the idempotency key."""
    amount: int
    currency: str
    method: str
    customer_email: str = ""
    customer_name: str = ""
    split: tuple[SplitShare, ...] = ()
    """The payment's frozen split parts; empty: the provider's default (``ASAAS_SPLIT``)."""


@dataclass(frozen=True)
class ProviderPayment:
    provider_payment_id: str
    status: str
    """One of ``PaymentStatus``'s values."""
    amount: int
    currency: str


@dataclass(frozen=True)
class ProviderMoneyFacts:
    """What a provider reports about the money of a payment. Fee and net are minor units of
    ``settlement_currency`` (None while the provider has not settled it yet); authorised and
    captured are minor units of the payment's currency (None when the provider does not say)."""

    fee_amount: int | None = None
    net_amount: int | None = None
    settlement_currency: str = ""
    funds_available_at: datetime | None = None
    amount_authorized: int | None = None
    amount_captured: int | None = None


@dataclass(frozen=True)
class RefundRequest:
    reference: str
    """``refund:<pk>``, also the idempotency key."""
    provider_payment_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class ProviderRefund:
    provider_refund_id: str
    status: str
    amount: int


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, *, request: PaymentRequest) -> ProviderPayment:
        """Start a payment. Idempotent on ``request.reference``. Raises ProviderUnavailable
        (retry later) or ProviderRejected (terminal)."""

    def cancel(self, *, provider_payment_id: str, reference: str) -> ProviderPayment:
        """Cancel a payment that has not been paid, so the customer can no longer pay it.
        Idempotent on ``reference`` (``payment:<pk>``): cancelling a cancelled payment answers
        it as cancelled. When the provider refuses because the payment already ended (it was
        paid first), answers the provider's current view instead (status ``succeeded``), so the
        caller applies it. Raises ProviderUnavailable (retry later) or ProviderRejected
        (terminal: unknown id, or a payment the provider will not cancel yet)."""

    def refund(self, *, request: RefundRequest) -> ProviderRefund:
        """Refund part or all of a payment. Idempotent on ``request.reference``."""

    def retrieve(self, *, provider_payment_id: str) -> ProviderPayment:
        """The provider's current view of a payment (used when events are in doubt)."""

    def money_facts(self, *, provider_payment_id: str) -> ProviderMoneyFacts:
        """Fee, net, authorised and captured amounts of a payment as the provider reports them
        now (read-only, safe to repeat); fields it does not know yet are None. Raises
        ProviderUnavailable or ProviderRejected."""
