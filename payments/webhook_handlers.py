"""Applying a provider's payment and refund facts through the services.

Shared by every provider whose events reduce to the same facts: the payload's ``data`` carries
``reference`` (our ``payment:<pk>`` / ``refund:<pk>``), ``id``, ``amount`` and ``currency``.
Facts are applied in any order: a fact the state machine has already moved past is a no-op, so
every permutation of a payment's events ends in the same state. Two kinds of fact are never
applied: one about another provider's payment (refused and logged), and one that contradicts a
final status (put on the reconciliation list; finance is told).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from integrations.exceptions import InvalidTransition
from integrations.facts import AmountMismatch, check_amount, referenced
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from payments.disputes import reconciliation_flag, reconciliation_flag_contradiction
from payments.models import (
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.services import (
    payment_attach_provider_id,
    payment_cancel,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    refund_mark_processing,
    refund_mark_succeeded,
)

log = structlog.get_logger(__name__)


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


def refuse_foreign(event: WebhookEvent, payment: Payment, provider: str) -> HandlerOutcome | None:
    """None when ``payment`` is ``provider``'s; otherwise the fact is refused: nothing is applied
    or flagged (a provider's word is no evidence about another provider's payment), a warning is
    logged, and the outcome to return (nothing affected) is given back."""
    if payment.provider == provider:
        return None
    log.warning(
        "webhook.foreign_object_refused",
        webhook_event=event.pk,
        endpoint=event.provider,
        event_type=event.event_type,
        provider=provider,
        payment_id=payment.pk,
        payment_provider=payment.provider,
    )
    return HandlerOutcome()


def apply_provider_fact(
    event: WebhookEvent,
    parsed: ParsedWebhook,
    obj: Payment | Refund,
    *,
    target: str,
    provider: str,
    action: Callable[[], Any],
) -> HandlerOutcome:
    """Run ``action``, the service that moves ``obj`` to ``target``. A fact the state machine
    refuses is dropped when it is merely older than what we have (logged at info); one that
    contradicts ``obj``'s final status (``reconciliation_flag_contradiction``) goes on the
    reconciliation list, once per event, and finance is told."""
    try:
        action()
    except InvalidTransition as exc:
        flagged = reconciliation_flag_contradiction(
            obj=obj,
            target=target,
            provider=provider,
            provider_object_id=event.object_id,
            webhook_event_id=event.pk,
        )
        if flagged is None:
            log.info("webhook.fact_superseded", event_type=parsed.event_type, detail=str(exc))
    return HandlerOutcome(affected=[obj])


PAYMENT_TARGETS = {
    "processing": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "cancelled": PaymentStatus.CANCELLED,
}


def payment_fact(kind: str, *, provider: str) -> Handler:
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        data = parsed.payload["data"]
        payment: Payment = referenced(Payment, data)
        refused = refuse_foreign(event, payment, provider)
        if refused is not None:
            return refused
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
            "cancelled": lambda: payment_cancel(payment=payment, occurred_at=at),
        }
        return apply_provider_fact(
            event,
            parsed,
            payment,
            target=PAYMENT_TARGETS[kind],
            provider=provider,
            action=actions[kind],
        )

    return handle


def refund_fact(kind: str, *, provider: str) -> Handler:
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        data = parsed.payload["data"]
        refund: Refund = referenced(Refund, data)
        refused = refuse_foreign(event, refund.payment, provider)
        if refused is not None:
            return refused
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
        return apply_provider_fact(
            event,
            parsed,
            refund,
            target=RefundStatus(kind),
            provider=provider,
            action=actions[kind],
        )

    return handle


def payment_fact_handlers(*, provider: str) -> dict[str, Handler]:
    """The handlers for an endpoint whose facts are ``provider``'s (a registry name: the
    ``Payment.provider`` its payments carry)."""
    return {
        "payment.processing": payment_fact("processing", provider=provider),
        "payment.succeeded": payment_fact("succeeded", provider=provider),
        "payment.failed": payment_fact("failed", provider=provider),
        "payment.cancelled": payment_fact("cancelled", provider=provider),
        "refund.processing": refund_fact("processing", provider=provider),
        "refund.succeeded": refund_fact("succeeded", provider=provider),
    }
