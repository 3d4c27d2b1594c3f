"""``StripePaymentProvider``: the PaymentProvider protocol on Stripe PaymentIntents and Refunds.

Every call goes through ``client.StripeGateway`` (the only SDK user): our ProviderClient transport
(timeouts, retries with the same ``Idempotency-Key``, circuit breaker, ProviderCall ledger). Our
reference (``payment:<pk>``, ``refund:<pk>``) is both the idempotency key and
``metadata[reference]``, which is how webhooks find our rows again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import models

from integrations.exceptions import ProviderRejected
from payments.models import Payment, PaymentMethod, PaymentStatus, Refund
from payments.providers.base import (
    PaymentRequest,
    ProviderMoneyFacts,
    ProviderPayment,
    ProviderRefund,
    RefundRequest,
)
from payments.providers.stripe.client import StripeGateway, StripePaymentIntent

# Stripe PaymentIntent status -> our PaymentStatus.
PAYMENT_STATUS: dict[str, str] = {
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.PENDING,
    "requires_capture": PaymentStatus.PENDING,
    "processing": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELLED,
}
# Stripe Refund status -> the word ProviderRefund.status carries (RefundStatus values).
REFUND_STATUS: dict[str, str] = {
    "pending": "processing",
    "requires_action": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
# PaymentIntent statuses from which it moves no more.
ENDED = frozenset({"succeeded", "canceled"})
PAYMENT_METHOD_TYPES: dict[str, str] = {
    PaymentMethod.CARD: "card",
    PaymentMethod.PIX: "pix",
    PaymentMethod.BOLETO: "boleto",
}


def payment_status(stripe_status: str) -> str:
    """Our PaymentStatus value for a Stripe PaymentIntent status (unknown ones stay pending)."""
    return PAYMENT_STATUS.get(stripe_status, PaymentStatus.PENDING)


def _subject(reference: str) -> models.Model | None:
    """An unsaved stand-in for the row named by ``reference``: links ProviderCall rows to it
    without a query."""
    prefix, _, pk = reference.partition(":")
    if not pk.isdigit():
        return None
    if prefix == "payment":
        return Payment(pk=int(pk))
    if prefix == "refund":
        return Refund(pk=int(pk))
    return None


def _payment(intent: StripePaymentIntent) -> ProviderPayment:
    return ProviderPayment(
        provider_payment_id=intent.id,
        status=payment_status(intent.status),
        amount=intent.amount,
        currency=intent.currency,
    )


class StripePaymentProvider:
    """Stripe behind ``PaymentProvider``. Settings are read at each call (``STRIPE_SECRET_KEY``,
    ``STRIPE_API_BASE``, optional ``STRIPE_CONFIRM_PAYMENT_METHOD``: a payment method such as
    ``pm_card_visa`` to create-and-confirm with, for test mode and demos).

    Call it from tasks, outside any transaction (the transport refuses otherwise)."""

    name = "stripe"

    def __init__(self, *, gateway: StripeGateway | None = None) -> None:
        self._gateway = gateway

    @property
    def gateway(self) -> StripeGateway:
        return self._gateway or StripeGateway.from_settings()

    def create_payment(self, *, request: PaymentRequest) -> ProviderPayment:
        """Create a PaymentIntent for ``request`` (currency lower-cased, ``metadata[reference]``),
        confirmed at once when ``STRIPE_CONFIRM_PAYMENT_METHOD`` is set.

        Idempotent on ``request.reference`` (the ``Idempotency-Key``): a retry returns the same
        PaymentIntent. Raises ProviderUnavailable (timeouts, 429, 5xx, circuit open: retry later
        with the same reference) or ProviderRejected (a 4xx such as a declined card: terminal)."""
        intent = self.gateway.create_payment_intent(
            amount=request.amount,
            currency=request.currency,
            reference=request.reference,
            payment_method_types=[PAYMENT_METHOD_TYPES.get(request.method, "card")],
            payment_method=str(getattr(settings, "STRIPE_CONFIRM_PAYMENT_METHOD", "") or ""),
            capture_method=(
                "manual"
                if getattr(settings, "STRIPE_CAPTURE_METHOD", "automatic") == "manual"
                else "automatic"
            ),
            subject=_subject(request.reference),
        )
        return _payment(intent)

    def confirm_payment(
        self, *, provider_payment_id: str, reference: str, payment_method: str = ""
    ) -> ProviderPayment:
        """Confirm the PaymentIntent (``POST .../confirm``). Idempotent on ``<reference>:confirm``.
        Raises ProviderUnavailable or ProviderRejected (e.g. the intent is already canceled)."""
        intent = self.gateway.confirm_payment_intent(
            intent_id=provider_payment_id,
            idempotency_key=f"{reference}:confirm",
            payment_method=payment_method,
            subject=_subject(reference),
        )
        return _payment(intent)

    def cancel(self, *, provider_payment_id: str, reference: str) -> ProviderPayment:
        """Cancel the PaymentIntent (``POST .../cancel``, ``cancellation_reason=abandoned``).
        Idempotent on ``<reference>:cancel``. When Stripe refuses because the intent already
        ended (succeeded, or canceled before), answers Stripe's current view of it instead (a
        ``GET``). Raises ProviderUnavailable, or ProviderRejected (unknown id, or an intent
        Stripe will not cancel in its current state, such as most ``processing`` ones)."""
        subject = _subject(reference)
        try:
            intent = self.gateway.cancel_payment_intent(
                intent_id=provider_payment_id,
                idempotency_key=f"{reference}:cancel",
                subject=subject,
            )
        except ProviderRejected:
            current = self.gateway.retrieve_payment_intent(
                intent_id=provider_payment_id, subject=subject
            )
            if current.status not in ENDED:
                raise
            intent = current
        return _payment(intent)

    def retrieve(self, *, provider_payment_id: str) -> ProviderPayment:
        """Stripe's current view of the PaymentIntent (``GET``; safe to repeat). Raises
        ProviderUnavailable or ProviderRejected (unknown id)."""
        return _payment(self.gateway.retrieve_payment_intent(intent_id=provider_payment_id))

    def money_facts(self, *, provider_payment_id: str) -> ProviderMoneyFacts:
        """The PaymentIntent's authorised and captured amounts and, once Stripe created the
        charge's balance transaction, its fee, net (settlement currency) and ``available_on``
        (``client.StripeGateway.retrieve_money_facts``). Read-only, safe to repeat. Raises
        ProviderUnavailable or ProviderRejected (unknown id)."""
        facts = self.gateway.retrieve_money_facts(intent_id=provider_payment_id)
        return ProviderMoneyFacts(
            fee_amount=facts.fee,
            net_amount=facts.net,
            settlement_currency=facts.currency,
            funds_available_at=(
                datetime.fromtimestamp(facts.available_on, tz=UTC)
                if facts.available_on is not None
                else None
            ),
            amount_authorized=facts.amount_authorized,
            amount_captured=facts.amount_captured,
        )

    def refund(self, *, request: RefundRequest) -> ProviderRefund:
        """Refund ``request.amount`` of the PaymentIntent (full or partial; ``metadata[reference]``).

        Idempotent on ``request.reference`` (``refund:<pk>``): after a timeout or a 5xx the retry
        carries the same key, so Stripe refunds at most once. ``ProviderRefund.status`` is
        ``processing``, ``succeeded`` or ``failed``. Raises ProviderUnavailable (retry later with
        the same reference) or ProviderRejected (e.g. more than the refundable amount)."""
        refund = self.gateway.create_refund(
            payment_intent=request.provider_payment_id,
            amount=request.amount,
            reference=request.reference,
            subject=_subject(request.reference),
        )
        return ProviderRefund(
            provider_refund_id=refund.id,
            status=REFUND_STATUS.get(refund.status, "processing"),
            amount=refund.amount,
        )
