"""Payment and refund events in the common shape, mapped to facts.

Shared by every provider whose events reduce to the same facts (the sandbox): the payload's
``data`` carries ``reference`` (our ``payment:<pk>`` / ``refund:<pk>``), ``id``, ``amount`` and
``currency``, and a failure's ``reason``. ``payments.facts`` applies them, the same way as every
other provider's: in any order, never about another provider's payment, an amount mismatch or a
fact contradicting a final status put on the reconciliation list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import Handler, HandlerOutcome, ParsedWebhook
from payments.facts import (
    PaymentFact,
    PaymentFactStatus,
    RefundFact,
    RefundFactStatus,
    payment_fact_apply,
    refund_fact_apply,
)


def whole_amount(value: Any) -> int | None:
    """A JSON integer amount in minor units; None for anything else (``4990.0`` for 4990, a
    string or a bool is not the same amount: a mismatch)."""
    return value if type(value) is int else None


def payment_fact_from(
    data: Mapping[str, Any], parsed: ParsedWebhook, *, provider: str, kind: str
) -> PaymentFact:
    return PaymentFact(
        provider=provider,
        status=PaymentFactStatus(kind),
        occurred_at=parsed.occurred_at,
        amount=whole_amount(data.get("amount")),
        currency=str(data.get("currency", "")),
        reference=str(data.get("reference", "")),
        provider_payment_id=str(data.get("id", "")),
        reason=str(data.get("reason", "")) if kind == PaymentFactStatus.FAILED else "",
    )


def refund_fact_from(
    data: Mapping[str, Any], parsed: ParsedWebhook, *, provider: str, kind: str
) -> RefundFact:
    return RefundFact(
        provider=provider,
        status=RefundFactStatus(kind),
        occurred_at=parsed.occurred_at,
        amount=whole_amount(data.get("amount")),
        currency=str(data.get("currency", "")),
        reference=str(data.get("reference", "")),
        provider_refund_id=str(data.get("id", "")),
        reason=str(data.get("reason", "")),
    )


def payment_fact(kind: str, *, provider: str) -> Handler:
    @in_event_context
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        fact = payment_fact_from(parsed.payload["data"], parsed, provider=provider, kind=kind)
        return HandlerOutcome(payment_fact_apply(fact=fact, webhook_event_id=event.pk).affected)

    return handle


def refund_fact(kind: str, *, provider: str) -> Handler:
    @in_event_context
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        fact = refund_fact_from(parsed.payload["data"], parsed, provider=provider, kind=kind)
        return HandlerOutcome(refund_fact_apply(fact=fact, webhook_event_id=event.pk).affected)

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
