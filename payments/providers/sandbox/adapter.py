"""The sandbox payment provider: answers like a real one and reports outcomes by webhook.

A payment succeeds unless its amount ends in 13 minor units (declined, for demos and tests); a
boleto goes through ``payment.processing`` first. Idempotent on the request reference, like a real
provider with idempotency keys."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

from django.utils import timezone

from integrations.sandbox import SandboxEvent, sandbox_emit, sandbox_maybe_fail
from payments.models import PaymentMethod, PaymentStatus
from payments.providers.base import PaymentRequest, ProviderPayment, ProviderRefund, RefundRequest

ENDPOINT = "sandbox-payments"
DECLINED_SUFFIX = 13


def _provider_id(prefix: str, reference: str) -> str:
    return f"{prefix}_{hashlib.sha256(reference.encode()).hexdigest()[:24]}"


class SandboxPaymentProvider:
    name = "sandbox"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payments: dict[str, ProviderPayment] = {}

    def create_payment(self, *, request: PaymentRequest) -> ProviderPayment:
        sandbox_maybe_fail(self.name)
        provider_id = _provider_id("sbx_pay", request.reference)
        declined = request.amount % 100 == DECLINED_SUFFIX
        payment = ProviderPayment(
            provider_payment_id=provider_id,
            status=PaymentStatus.PENDING,
            amount=request.amount,
            currency=request.currency,
        )
        with self._lock:
            # Same reference, same answer. Events are sent again on a repeated call (like a
            # provider resending): the handlers absorb duplicates, and no state leaks between
            # calls that reuse a reference.
            self._payments[provider_id] = payment
        now = timezone.now()
        data = {
            "id": provider_id,
            "amount": request.amount,
            "currency": request.currency,
            "reference": request.reference,
        }
        events = []
        if request.method == PaymentMethod.BOLETO:
            events.append(SandboxEvent("payment.processing", data, now + timedelta(seconds=1)))
        if declined:
            events.append(
                SandboxEvent(
                    "payment.failed",
                    {**data, "reason": "card_declined"},
                    now + timedelta(seconds=2),
                )
            )
        else:
            events.append(SandboxEvent("payment.succeeded", data, now + timedelta(seconds=2)))
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
        with self._lock:
            return self._payments[provider_payment_id]
