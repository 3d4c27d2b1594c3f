"""The sandbox payment provider: answers like a real one and reports outcomes by webhook.

A payment succeeds unless its amount ends in 13 minor units (declined, for demos and tests), two
seconds after it was created; a boleto goes through ``payment.processing`` after one. Idempotent on
the request reference, like a real provider with idempotency keys.

It keeps no memory of its own: ``retrieve`` derives the same outcome from durable state (our
Payment row carrying the sandbox's id, and the ``payment.cancelled`` webhook it owes once it
cancelled one), so it answers the same in every process, as a real provider's API would. A
payment cancelled before its outcome never reports one: ``cancel`` withdraws the webhooks still
owed."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from integrations.exceptions import ProviderRejected
from integrations.models import SandboxWebhook
from integrations.sandbox import SandboxEvent, sandbox_emit, sandbox_maybe_fail
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.base import (
    PaymentRequest,
    ProviderMoneyFacts,
    ProviderPayment,
    ProviderRefund,
    RefundRequest,
)

ENDPOINT = "sandbox-payments"
DECLINED_SUFFIX = 13
# After creation: a boleto is processing from PROCESSING_AFTER, every payment has its outcome
# (succeeded, or failed when declined) from OUTCOME_AFTER.
PROCESSING_AFTER = timedelta(seconds=1)
OUTCOME_AFTER = timedelta(seconds=2)
# The sandbox's fee on a succeeded payment: 2.99 % (rounded down) plus 39 minor units, never more
# than the amount.
FEE_BASIS_POINTS = 299
FEE_FIXED = 39


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

    def cancel(self, *, provider_payment_id: str, reference: str) -> ProviderPayment:
        """Cancel a sandbox payment that has no outcome yet: the outcome webhooks it still owes
        are withdrawn and a ``payment.cancelled`` one is owed instead. A payment past its outcome
        (or cancelled before) is answered as it is, like a real provider that refuses to cancel
        a paid charge. Raises ProviderRejected (404) for an id the sandbox never issued, and
        ProviderUnavailable at the chaos failure rate."""
        sandbox_maybe_fail(self.name)
        row = self._row(provider_payment_id, operation="payment.cancel")
        status = _status_of(row)
        if status in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED):
            return _answer(row, status)
        with transaction.atomic():
            _owed_for(reference).filter(status=SandboxWebhook.Status.PENDING).delete()
            sandbox_emit(
                endpoint=ENDPOINT,
                events=[
                    SandboxEvent(
                        "payment.cancelled",
                        {
                            "id": provider_payment_id,
                            "amount": row["amount"],
                            "currency": row["currency"],
                            "reference": reference,
                        },
                        timezone.now(),
                    )
                ],
            )
        return _answer(row, PaymentStatus.CANCELLED)

    def retrieve(self, *, provider_payment_id: str) -> ProviderPayment:
        """The sandbox's current view of a payment (read-only, safe to repeat), derived from our
        Payment row with this sandbox id: its amount, method and creation time. Raises
        ProviderRejected (a 404) for an id the sandbox never issued or we never recorded, and
        ProviderUnavailable at the chaos failure rate."""
        sandbox_maybe_fail(self.name)
        row = self._row(provider_payment_id, operation="payment.retrieve")
        return _answer(row, _status_of(row))

    def money_facts(self, *, provider_payment_id: str) -> ProviderMoneyFacts:
        """Fee and net of a succeeded sandbox payment (2.99 % + 39 minor units, in its own
        currency, available at once), authorised and captured in full; nothing known before it
        succeeded. Raises ProviderRejected for an unknown id."""
        sandbox_maybe_fail(self.name)
        row = self._row(provider_payment_id, operation="payment.money_facts")
        if row["status"] != PaymentStatus.SUCCEEDED and _status_of(row) != PaymentStatus.SUCCEEDED:
            return ProviderMoneyFacts()
        amount = int(row["amount"])
        fee = min(amount * FEE_BASIS_POINTS // 10_000 + FEE_FIXED, amount)
        return ProviderMoneyFacts(
            fee_amount=fee,
            net_amount=amount - fee,
            settlement_currency=str(row["currency"]),
            amount_authorized=amount,
            amount_captured=amount,
        )

    def _row(self, provider_payment_id: str, *, operation: str) -> dict[str, Any]:
        """Our row for the sandbox's id: the sandbox's only memory. Raises ProviderRejected."""
        row = (
            Payment.objects.filter(provider=self.name, provider_payment_id=provider_payment_id)
            .values("pk", "amount", "currency", "method", "status", "created_at")
            .first()
        )
        if row is None:
            raise ProviderRejected(
                f"{self.name}: 404 no payment {provider_payment_id[:40]}",
                provider=self.name,
                operation=operation,
                status_code=404,
            )
        return {**row, "provider_payment_id": provider_payment_id}


def _owed_for(reference: str) -> QuerySet[SandboxWebhook]:
    """The payment webhooks the sandbox owes (or sent) about our ``reference``."""
    return SandboxWebhook.objects.filter(
        endpoint=ENDPOINT, body__contains=f'"reference":"{reference}"'
    )


def _status_of(row: dict[str, Any]) -> str:
    """The sandbox's status for the payment: cancelled once it cancelled it (its own record is
    the ``payment.cancelled`` webhook it owes; our row when webhooks are off), else the outcome
    its age gives."""
    cancelled = row["status"] == PaymentStatus.CANCELLED or (
        _owed_for(f"payment:{row['pk']}")
        .filter(body__contains='"type":"payment.cancelled"')
        .exists()
    )
    if cancelled:
        return PaymentStatus.CANCELLED
    return sandbox_payment_status(
        amount=row["amount"],
        method=row["method"],
        created_at=row["created_at"],
        now=timezone.now(),
    )


def _answer(row: dict[str, Any], status: str) -> ProviderPayment:
    return ProviderPayment(
        provider_payment_id=row["provider_payment_id"],
        status=status,
        amount=row["amount"],
        currency=row["currency"],
    )
