"""Applying a provider's payment and refund facts through the services.

Shared by every provider whose events reduce to the same facts: the payload's ``data`` carries
``reference`` (our ``payment:<pk>`` / ``refund:<pk>``), ``id``, ``amount`` and ``currency``.
Facts are applied in any order: a fact the state machine has already moved past is a no-op, so
every permutation of a payment's events ends in the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from integrations.facts import AmountMismatch, apply_fact, check_amount, referenced
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from payments.disputes import reconciliation_flag
from payments.models import Payment, ReconciliationException, Refund
from payments.services import (
    payment_attach_provider_id,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    refund_mark_processing,
    refund_mark_succeeded,
)


def flag_mismatch(event: WebhookEvent, payment: Payment, exc: AmountMismatch) -> HandlerOutcome:
    """Never applied silently: the fact goes on finance's reconciliation list instead."""
    reconciliation_flag(
        provider=payment.provider,
        kind=ReconciliationException.Kind.AMOUNT_MISMATCH,
        detail=str(exc),
        payment=payment,
        provider_object_id=event.object_id,
        webhook_event_id=event.pk,
    )
    return HandlerOutcome(affected=[payment])


def payment_fact(kind: str) -> Handler:
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        data = parsed.payload["data"]
        payment: Payment = referenced(Payment, data)
        try:
            check_amount(payment, data)
        except AmountMismatch as exc:
            return flag_mismatch(event, payment, exc)
        if not payment.provider_payment_id:
            payment = payment_attach_provider_id(
                payment=payment, provider_payment_id=str(data["id"])
            )
        at = parsed.occurred_at
        actions: dict[str, Callable[[], Any]] = {
            "processing": lambda: payment_mark_processing(payment=payment, occurred_at=at),
            "succeeded": lambda: payment_mark_succeeded(payment=payment, occurred_at=at),
            "failed": lambda: payment_mark_failed(
                payment=payment, reason=str(data.get("reason", "declined")), occurred_at=at
            ),
        }
        return apply_fact(parsed, payment, actions[kind])

    return handle


def refund_fact(kind: str) -> Handler:
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        data = parsed.payload["data"]
        refund: Refund = referenced(Refund, data)
        try:
            check_amount(refund, data)
        except AmountMismatch as exc:
            return flag_mismatch(event, refund.payment, exc)
        at = parsed.occurred_at
        provider_id = str(data.get("id", ""))
        actions: dict[str, Callable[[], Any]] = {
            "processing": lambda: refund_mark_processing(
                refund=refund, provider_refund_id=provider_id, occurred_at=at
            ),
            "succeeded": lambda: refund_mark_succeeded(
                refund=refund, provider_refund_id=provider_id, occurred_at=at
            ),
        }
        return apply_fact(parsed, refund, actions[kind])

    return handle


PAYMENT_FACT_HANDLERS: dict[str, Handler] = {
    "payment.processing": payment_fact("processing"),
    "payment.succeeded": payment_fact("succeeded"),
    "payment.failed": payment_fact("failed"),
    "refund.processing": refund_fact("processing"),
    "refund.succeeded": refund_fact("succeeded"),
}
