"""The sandbox payment provider: answers like a real one and reports outcomes by webhook.

A payment succeeds unless its amount ends in 13 minor units (declined, for demos and tests), two
seconds after it was created; a boleto goes through ``payment.processing`` after one. Idempotent on
the request reference, like a real provider with idempotency keys.

It keeps no memory of its own: ``retrieve`` derives the same outcome from durable state (our
Payment row carrying the sandbox's id), so it answers the same in every process, as a real
provider's API would."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.exceptions import ProviderRejected
from integrations.sandbox import SandboxEvent, sandbox_emit, sandbox_maybe_fail
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.base import PaymentRequest, ProviderPayment, ProviderRefund, RefundRequest

ENDPOINT = "sandbox-payments"
DECLINED_SUFFIX = 13
# After creation: a boleto is processing from PROCESSING_AFTER, every payment has its outcome
# (succeeded, or failed when declined) from OUTCOME_AFTER.
PROCESSING_AFTER = timedelta(seconds=1)
OUTCOME_AFTER = timedelta(seconds=2)


def _provider_id(prefix: str, reference: str) -> str:
    return f"{prefix}_{hashlib.sha256(reference.encode()).hexdigest()[:24]}"


def _declined(amount: int) -> bool:
    return amount % 100 == DECLINED_SUFFIX


def sandbox_payment_status(*, amount: int, method: str, created_at: datetime, now: datetime) -> str:
    """The sandbox's status for a payment at ``now``: the same outcome its webhooks report."""
    age = now - created_at
    if age >= OUTCOME_AFTER:
        return PaymentStatus.FAILED if _declined(amount) else PaymentStatus.SUCCEEDED
    if method == PaymentMethod.BOLETO and age >= PROCESSING_AFTER:
        return PaymentStatus.PROCESSING
    return PaymentStatus.PENDING


class SandboxPaymentProvider:
    name = "sandbox"

    def create_payment(self, *, request: PaymentRequest) -> ProviderPayment:
        sandbox_maybe_fail(self.name)
        provider_id = _provider_id("sbx_pay", request.reference)
        # Same reference, same answer. Events are sent again on a repeated call (like a provider
        # resending): the handlers absorb duplicates.
        payment = ProviderPayment(
            provider_payment_id=provider_id,
            status=PaymentStatus.PENDING,
            amount=request.amount,
            currency=request.currency,
        )
        now = timezone.now()
        data = {
            "id": provider_id,
            "amount": request.amount,
            "currency": request.currency,
            "reference": request.reference,
        }
        events = []
        if request.method == PaymentMethod.BOLETO:
            events.append(SandboxEvent("payment.processing", data, now + PROCESSING_AFTER))
        if _declined(request.amount):
            events.append(
                SandboxEvent(
                    "payment.failed",
                    {**data, "reason": "card_declined"},
                    now + OUTCOME_AFTER,
                )
            )
        else:
            events.append(SandboxEvent("payment.succeeded", data, now + OUTCOME_AFTER))
        sandbox_emit(endpoint=ENDPOINT, events=events)
        return payment

    def refund(self, *, request: RefundRequest) -> ProviderRefund:
        sandbox_maybe_fail(self.name)
        provider_id = _provider_id("sbx_re", request.reference)
        now = timezone.now()
        data = {
            "id": provider_id,
            "payment": request.provider_payment_id,
            "amount": request.amount,
            "currency": request.currency,
            "reference": request.reference,
        }
        sandbox_emit(
            endpoint=ENDPOINT,
            events=[
                SandboxEvent("refund.processing", data, now + timedelta(seconds=1)),
                SandboxEvent("refund.succeeded", data, now + timedelta(seconds=2)),
            ],
        )
        return ProviderRefund(
            provider_refund_id=provider_id, status="processing", amount=request.amount
        )

    def retrieve(self, *, provider_payment_id: str) -> ProviderPayment:
        """The sandbox's current view of a payment (read-only, safe to repeat), derived from our
        Payment row with this sandbox id: its amount, method and creation time. Raises
        ProviderRejected (a 404) for an id the sandbox never issued or we never recorded, and
        ProviderUnavailable at the chaos failure rate."""
        sandbox_maybe_fail(self.name)
        row = (
            Payment.objects.filter(provider=self.name, provider_payment_id=provider_payment_id)
            .values("amount", "currency", "method", "created_at")
            .first()
        )
        if row is None:
            raise ProviderRejected(
                f"{self.name}: 404 no payment {provider_payment_id[:40]}",
                provider=self.name,
                operation="payment.retrieve",
                status_code=404,
            )
        return ProviderPayment(
            provider_payment_id=provider_payment_id,
            status=sandbox_payment_status(
                amount=row["amount"],
                method=row["method"],
                created_at=row["created_at"],
                now=timezone.now(),
            ),
            amount=row["amount"],
            currency=row["currency"],
        )
