"""``POST /webhooks/stripe/``: ``Stripe-Signature``-verified events, mapped to facts.

This module only verifies a delivery and maps its ``data.object`` to ``payments.facts``: our
reference (``metadata.reference``: ``payment:<pk>`` / ``refund:<pk>``) or Stripe's ids, the
status, the amount and currency, and the event's ``created`` as the fact's time. Applying them
(finding our row, refusing another provider's, flagging a mismatch or a contradiction of a final
status, the watermark) is the same for every provider: ``payments.facts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from django.conf import settings

from integrations.facts import in_event_context
from integrations.models import WebhookEvent
from integrations.webhooks.registry import (
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    load_json,
    unix_time,
)
from payments.facts import (
    DisputeFact,
    PaymentFact,
    PaymentFactStatus,
    RefundFact,
    RefundFactStatus,
    dispute_fact_apply,
    payment_fact_apply,
    refund_fact_apply,
)
from payments.models import DisputeStatus
from payments.providers.stripe.client import PROVIDER, verify_signature
from payments.webhook_handlers import whole_amount

log = structlog.get_logger(__name__)
MAX_TIMESTAMP_DIGITS = 12

DISPUTE_STATUS: dict[str, DisputeStatus] = {
    "warning_needs_response": DisputeStatus.NEEDS_RESPONSE,
    "needs_response": DisputeStatus.NEEDS_RESPONSE,
    "warning_under_review": DisputeStatus.UNDER_REVIEW,
    "under_review": DisputeStatus.UNDER_REVIEW,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
    "warning_closed": DisputeStatus.CLOSED,
    "prevented": DisputeStatus.CLOSED,
}
REFUND_STATUS: dict[str, RefundFactStatus] = {
    "pending": RefundFactStatus.PROCESSING,
    "requires_action": RefundFactStatus.PROCESSING,
    "succeeded": RefundFactStatus.SUCCEEDED,
    "failed": RefundFactStatus.FAILED,
    "canceled": RefundFactStatus.FAILED,
}


def _object(parsed: ParsedWebhook) -> Mapping[str, Any]:
    obj = parsed.payload["data"]["object"]
    return obj if isinstance(obj, Mapping) else {}


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _reference(obj: Mapping[str, Any]) -> str:
    return str(_metadata(obj).get("reference") or "")


def _id(value: Any) -> str:
    """A Stripe reference that may be an id or an expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


# --- payment_intent.* ------------------------------------------------------------------------

INTENT_STATUS = {
    "processing": PaymentFactStatus.PROCESSING,
    "succeeded": PaymentFactStatus.SUCCEEDED,
    "failed": PaymentFactStatus.FAILED,
    "canceled": PaymentFactStatus.CANCELLED,
}


def _failure_reason(intent: Mapping[str, Any]) -> str:
    error = intent.get("last_payment_error")
    if isinstance(error, Mapping):
        return str(
            error.get("decline_code") or error.get("code") or error.get("type") or "declined"
        )
    return "declined"


def payment_intent_fact_from(kind: str, parsed: ParsedWebhook) -> PaymentFact:
    """A ``payment_intent.<kind>`` event's PaymentIntent as a fact."""
    intent = _object(parsed)
    status = INTENT_STATUS[kind]
    return PaymentFact(
        provider=PROVIDER,
        status=status,
        occurred_at=parsed.occurred_at,
        amount=whole_amount(intent.get("amount")),
        currency=str(intent.get("currency", "")),
        reference=_reference(intent),
        provider_payment_id=_id(intent.get("id")),
        reason=_failure_reason(intent) if status == PaymentFactStatus.FAILED else "",
    )


def payment_intent_fact(kind: str) -> Handler:
    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        fact = payment_intent_fact_from(kind, parsed)
        return HandlerOutcome(payment_fact_apply(fact=fact, webhook_event_id=event.pk).affected)

    return handle


# --- refunds ---------------------------------------------------------------------------------


def refund_fact_from(obj: Mapping[str, Any], parsed: ParsedWebhook) -> RefundFact | None:
    """One Stripe Refund object as a fact; None for a status we do not know (logged)."""
    status = REFUND_STATUS.get(str(obj.get("status", "")))
    if status is None:
        log.info("stripe.refund_status_unknown", status=obj.get("status"), refund=obj.get("id"))
        return None
    return RefundFact(
        provider=PROVIDER,
        status=status,
        occurred_at=parsed.occurred_at,
        amount=whole_amount(obj.get("amount")),
        currency=str(obj.get("currency", "")),
        reference=_reference(obj),
        provider_refund_id=_id(obj.get("id")),
        provider_payment_id=_id(obj.get("payment_intent")),
        reason=str(obj.get("failure_reason") or obj.get("status") or ""),
    )


def refund_fact(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """``refund.created`` / ``refund.updated`` / ``refund.failed``: data.object is a Refund."""
    fact = refund_fact_from(_object(parsed), parsed)
    if fact is None:
        return HandlerOutcome()
    return HandlerOutcome(refund_fact_apply(fact=fact, webhook_event_id=event.pk).affected)


def charge_refunded(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """``charge.refunded``: data.object is a Charge. Applies the refunds it embeds
    (``refunds.data``, when Stripe includes them); the ``refund.*`` events carry the same facts,
    so a Charge without them changes nothing."""
    refunds = _object(parsed).get("refunds")
    items = refunds.get("data") if isinstance(refunds, Mapping) else None
    affected: list[Any] = []
    for item in items if isinstance(items, list) else []:
        fact = refund_fact_from(item, parsed) if isinstance(item, Mapping) else None
        if fact is not None:
            affected.extend(refund_fact_apply(fact=fact, webhook_event_id=event.pk).affected)
    return HandlerOutcome(affected=affected)


# --- disputes --------------------------------------------------------------------------------


def dispute_fact_from(parsed: ParsedWebhook) -> DisputeFact:
    """A ``charge.dispute.*`` event's Dispute as a fact. Raises MalformedWebhook for a status
    Stripe does not document."""
    dispute = _object(parsed)
    status = DISPUTE_STATUS.get(str(dispute.get("status", "")))
    if status is None:
        raise MalformedWebhook(f"Unknown dispute status {dispute.get('status')!r}.")
    amount = whole_amount(dispute.get("amount"))
    evidence = dispute.get("evidence_details")
    due = evidence.get("due_by") if isinstance(evidence, Mapping) else None
    return DisputeFact(
        provider=PROVIDER,
        provider_dispute_id=_id(dispute.get("id")),
        status=status,
        occurred_at=parsed.occurred_at,
        amount=amount,
        amount_unreadable=amount is None,  # Stripe always says how much is disputed
        currency=str(dispute.get("currency", "")),
        reference=_reference(dispute),
        provider_payment_id=_id(dispute.get("payment_intent")),
        reason=str(dispute.get("reason") or ""),
        evidence_due_by=None if due is None else unix_time(due),
        **_dispute_fee(dispute.get("balance_transactions")),
    )


def _dispute_fee(transactions: Any) -> dict[str, Any]:
    """Stripe's dispute fee, netted over the dispute's balance transactions (1500 withdrawn
    with the funds; given back with them on a win where Stripe refunds it): ``fee_amount`` and
    ``fee_currency``, or nothing when the event lists none (or one we cannot read)."""
    if not isinstance(transactions, list) or not transactions:
        return {}
    fees = [t.get("fee") if isinstance(t, Mapping) else None for t in transactions]
    currencies = {
        str(t.get("currency", "")).upper() for t in transactions if isinstance(t, Mapping)
    }
    if any(type(fee) is not int for fee in fees) or len(currencies) != 1:
        return {}
    return {"fee_amount": sum(fees), "fee_currency": currencies.pop()}


def dispute_fact(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """``charge.dispute.*`` -> ``dispute_fact_apply`` (opens, moves or closes our Dispute; the
    order is flagged, never changes status)."""
    fact = dispute_fact_from(parsed)
    return HandlerOutcome(dispute_fact_apply(fact=fact, webhook_event_id=event.pk).affected)


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": payment_intent_fact("succeeded"),
    "payment_intent.payment_failed": payment_intent_fact("failed"),
    "payment_intent.canceled": payment_intent_fact("canceled"),
    "payment_intent.processing": payment_intent_fact("processing"),
    "charge.refunded": charge_refunded,
    "refund.created": refund_fact,
    "refund.updated": refund_fact,
    "refund.failed": refund_fact,
    "charge.dispute.created": dispute_fact,
    "charge.dispute.updated": dispute_fact,
    "charge.dispute.closed": dispute_fact,
}
HANDLERS = {event_type: in_event_context(h) for event_type, h in HANDLERS.items()}


class StripeWebhookEndpoint:
    """The ``stripe`` webhook endpoint (see ``integrations.webhooks.registry.WebhookEndpoint``).

    Secrets (``STRIPE_WEBHOOK_SECRETS``, several during a rotation) and the tolerance
    (``STRIPE_WEBHOOK_TOLERANCE_SECONDS``) are read at each delivery."""

    name = "stripe"
    secret_headers = frozenset({"stripe-signature"})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        header = lowered.get("stripe-signature", "")
        _check_timestamp(header)
        verify_signature(
            body=body,
            header=header,
            secrets=[s.strip() for s in settings.STRIPE_WEBHOOK_SECRETS],
            tolerance=int(settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS),
        )

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        payload = load_json(body)
        if not isinstance(payload, dict) or payload.get("object") != "event":
            raise MalformedWebhook('Body must be a Stripe event ("object": "event").')
        event_id, event_type, created = (
            payload.get("id"),
            payload.get("type"),
            payload.get("created"),
        )
        if not isinstance(event_id, str) or not isinstance(event_type, str):
            raise MalformedWebhook("A Stripe event needs a string id and type.")
        occurred_at = unix_time(created)
        data = payload.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
            raise MalformedWebhook('A Stripe event needs an object "data.object".')
        return ParsedWebhook(
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            occurred_at=occurred_at,
            object_id=_id(data["object"].get("id"))[:200],
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return HANDLERS.get(event_type)


def _check_timestamp(header: str) -> None:
    """Refuse a ``Stripe-Signature`` that is not ASCII (the SDK compares signatures with
    ``hmac.compare_digest`` on str, which raises TypeError on anything else: a 500) or whose
    first ``t`` is not 1 to 12 ASCII digits, before any secret is tried: ``str.isdigit()`` takes
    ``"²"`` (``int()`` then raises: a 500) and ``int()`` reads Arabic-Indic or fullwidth digits
    as the number the MAC covers."""
    if not header.isascii():
        raise SignatureRejected("Stripe-Signature is not ASCII.")
    first = next(
        (
            value
            for key, _, value in (item.partition("=") for item in header.split(","))
            if key == "t"
        ),
        None,
    )
    if first is None or not 0 < len(first) <= MAX_TIMESTAMP_DIGITS:
        raise SignatureRejected("Unable to extract timestamp from Stripe-Signature.")
    if not (first.isascii() and first.isdigit()):
        raise SignatureRejected("Unable to extract timestamp from Stripe-Signature.")


endpoint = StripeWebhookEndpoint()
