"""``POST /webhooks/stripe/``: ``Stripe-Signature``-verified events applied through the services.

Facts are found by our reference (``metadata.reference``: ``payment:<pk>`` / ``refund:<pk>``) or
by Stripe's id on our row; a reference to another provider's payment is refused (logged, nothing
applied); amounts and currencies are checked against our record (a mismatch goes on the
reconciliation list, never applied). Every fact goes through ``apply_provider_fact``: one the
state machine has moved past is a no-op, so duplicates and any order of delivery are harmless,
while one contradicting a final status goes on the reconciliation list and finance is told.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import structlog
from django.conf import settings

from integrations.facts import AmountMismatch, check_amount, referenced
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
from payments.disputes import dispute_apply_fact, reconciliation_flag
from payments.models import (
    DisputeStatus,
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.providers.stripe.client import PROVIDER, verify_signature
from payments.services import (
    payment_attach_provider_id,
    payment_cancel,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    refund_mark_failed,
    refund_mark_processing,
    refund_mark_succeeded,
)
from payments.webhook_handlers import (
    apply_provider_fact,
    flag_mismatch,
    refuse_foreign,
)

log = structlog.get_logger(__name__)
Kind = ReconciliationException.Kind
MAX_TIMESTAMP_DIGITS = 12

DISPUTE_STATUS: dict[str, str] = {
    "warning_needs_response": DisputeStatus.NEEDS_RESPONSE,
    "needs_response": DisputeStatus.NEEDS_RESPONSE,
    "warning_under_review": DisputeStatus.UNDER_REVIEW,
    "under_review": DisputeStatus.UNDER_REVIEW,
    "won": DisputeStatus.WON,
    "lost": DisputeStatus.LOST,
    "warning_closed": DisputeStatus.CLOSED,
    "prevented": DisputeStatus.CLOSED,
}


def _object(parsed: ParsedWebhook) -> Mapping[str, Any]:
    obj = parsed.payload["data"]["object"]
    return obj if isinstance(obj, Mapping) else {}


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _id(value: Any) -> str:
    """A Stripe reference that may be an id or an expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id") or "")
    return str(value or "")


def _flag(
    event: WebhookEvent, kind: str, detail: str, payment: Payment | None, object_id: str
) -> HandlerOutcome:
    reconciliation_flag(
        provider=PROVIDER,
        kind=kind,
        detail=detail,
        payment=payment,
        provider_object_id=object_id,
        webhook_event_id=event.pk,
    )
    return HandlerOutcome(affected=[payment] if payment is not None else [])


def _payment_by_intent(intent_id: str) -> Payment | None:
    if not intent_id:
        return None
    return Payment.objects.filter(provider=PROVIDER, provider_payment_id=intent_id).first()


def _find_payment(obj: Mapping[str, Any], intent_id: str) -> Payment | None:
    """Our payment named by ``metadata.reference`` (raises ObjectNotReady while that row is not
    committed yet), else the one carrying Stripe's PaymentIntent id, else None."""
    if _metadata(obj).get("reference"):
        return referenced(Payment, _metadata(obj))
    return _payment_by_intent(intent_id)


# --- payment_intent.* ------------------------------------------------------------------------

INTENT_TARGETS = {
    "processing": PaymentStatus.PROCESSING,
    "succeeded": PaymentStatus.SUCCEEDED,
    "failed": PaymentStatus.FAILED,
    "canceled": PaymentStatus.CANCELLED,
}


def _failure_reason(intent: Mapping[str, Any]) -> str:
    error = intent.get("last_payment_error")
    if isinstance(error, Mapping):
        return str(
            error.get("decline_code") or error.get("code") or error.get("type") or "declined"
        )
    return "declined"


def payment_intent_fact(kind: str) -> Handler:
    """``payment_intent.<kind>`` -> the payment service for that fact."""

    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        intent = _object(parsed)
        intent_id = _id(intent.get("id"))
        payment = _find_payment(intent, intent_id)
        if payment is None:
            return _flag(
                event, Kind.UNKNOWN_OBJECT, f"Unknown PaymentIntent {intent_id}.", None, intent_id
            )
        refused = refuse_foreign(event, payment, PROVIDER)
        if refused is not None:
            return refused
        if payment.provider_payment_id and payment.provider_payment_id != intent_id:
            return _flag(
                event,
                Kind.CONFLICTING_FACT,
                f"PaymentIntent {intent_id} names {payment}, which is "
                f"{payment.provider} {payment.provider_payment_id or '(no id)'}.",
                payment,
                intent_id,
            )
        try:
            check_amount(payment, intent)
        except AmountMismatch as exc:
            return flag_mismatch(event, payment, exc)
        if not payment.provider_payment_id:
            payment = payment_attach_provider_id(payment=payment, provider_payment_id=intent_id)
        at = parsed.occurred_at
        actions: dict[str, Callable[[], Any]] = {
            "processing": lambda: payment_mark_processing(payment=payment, occurred_at=at),
            "succeeded": lambda: payment_mark_succeeded(payment=payment, occurred_at=at),
            "failed": lambda: payment_mark_failed(
                payment=payment, reason=_failure_reason(intent), occurred_at=at
            ),
            "canceled": lambda: payment_cancel(payment=payment, occurred_at=at),
        }
        return apply_provider_fact(
            event,
            parsed,
            payment,
            target=INTENT_TARGETS[kind],
            provider=PROVIDER,
            action=actions[kind],
        )

    return handle


# --- refunds ---------------------------------------------------------------------------------


def _find_refund(obj: Mapping[str, Any]) -> Refund | None:
    if _metadata(obj).get("reference"):
        return referenced(Refund, _metadata(obj))
    refund_id = _id(obj.get("id"))
    if not refund_id:
        return None
    return (
        Refund.objects.filter(payment__provider=PROVIDER, provider_refund_id=refund_id)
        .select_related("payment")
        .first()
    )


def _apply_refund(
    event: WebhookEvent, parsed: ParsedWebhook, obj: Mapping[str, Any]
) -> HandlerOutcome:
    """One Stripe Refund object's status, applied to our refund."""
    refund_id = _id(obj.get("id"))
    refund = _find_refund(obj)
    if refund is None:
        payment = _payment_by_intent(_id(obj.get("payment_intent")))
        return _flag(
            event,
            Kind.UNKNOWN_OBJECT,
            f"Stripe refund {refund_id} ({obj.get('amount')} {obj.get('currency')}) "
            "was not requested here.",
            payment,
            refund_id,
        )
    refused = refuse_foreign(event, refund.payment, PROVIDER)
    if refused is not None:
        return refused
    if refund.provider_refund_id and refund.provider_refund_id != refund_id:
        return _flag(
            event,
            Kind.CONFLICTING_FACT,
            f"Stripe refund {refund_id} names {refund}, which is {refund.provider_refund_id}.",
            refund.payment,
            refund_id,
        )
    try:
        check_amount(refund, obj)
    except AmountMismatch as exc:
        return flag_mismatch(event, refund.payment, exc)
    status = str(obj.get("status", ""))
    at = parsed.occurred_at
    if status in ("pending", "requires_action"):
        if refund.status == RefundStatus.FAILED:
            # Stripe never revives a failed refund: this pending fact is an old one.
            return HandlerOutcome(affected=[refund])
        target = RefundStatus.PROCESSING
        action: Callable[[], Any] = lambda: refund_mark_processing(  # noqa: E731
            refund=refund, provider_refund_id=refund_id, occurred_at=at
        )
    elif status == "succeeded":
        target = RefundStatus.SUCCEEDED
        action = lambda: refund_mark_succeeded(  # noqa: E731
            refund=refund, provider_refund_id=refund_id, occurred_at=at
        )
    elif status in ("failed", "canceled"):
        target = RefundStatus.FAILED
        reason = str(obj.get("failure_reason") or status)
        action = lambda: refund_mark_failed(refund=refund, reason=reason, occurred_at=at)  # noqa: E731
    else:
        log.info("stripe.refund_status_unknown", status=status, refund=refund_id)
        return HandlerOutcome(affected=[refund])
    return apply_provider_fact(
        event, parsed, refund, target=target, provider=PROVIDER, action=action
    )


def refund_fact(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """``refund.created`` / ``refund.updated`` / ``refund.failed``: data.object is a Refund."""
    return _apply_refund(event, parsed, _object(parsed))


def charge_refunded(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """``charge.refunded``: data.object is a Charge. Applies the refunds it embeds
    (``refunds.data``, when Stripe includes them); the ``refund.*`` events carry the same facts,
    so a Charge without them changes nothing."""
    charge = _object(parsed)
    refunds = charge.get("refunds")
    items = refunds.get("data") if isinstance(refunds, Mapping) else None
    affected: list[Any] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            affected.extend(_apply_refund(event, parsed, item).affected)
    if not affected:
        payment = _payment_by_intent(_id(charge.get("payment_intent")))
        if payment is not None:
            affected.append(payment)
    return HandlerOutcome(affected=affected)


# --- disputes --------------------------------------------------------------------------------


def dispute_fact(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """``charge.dispute.*`` -> ``dispute_apply_fact`` (opens, moves or closes our Dispute; the
    order is flagged, never changes status)."""
    dispute = _object(parsed)
    dispute_id = _id(dispute.get("id"))
    payment = _payment_by_intent(_id(dispute.get("payment_intent")))
    if payment is None and _metadata(dispute).get("reference"):
        payment = referenced(Payment, _metadata(dispute))
        refused = refuse_foreign(event, payment, PROVIDER)
        if refused is not None:
            return refused
    if payment is None:
        return _flag(
            event,
            Kind.UNKNOWN_OBJECT,
            f"Dispute {dispute_id} on an unknown payment.",
            None,
            dispute_id,
        )
    status = DISPUTE_STATUS.get(str(dispute.get("status", "")))
    if status is None:
        raise MalformedWebhook(f"Unknown dispute status {dispute.get('status')!r}.")
    amount = dispute.get("amount")
    currency = str(dispute.get("currency", "")).upper()
    if (
        type(amount) is not int  # not a bool, not 2000.0
        or currency != payment.currency
        or not 0 < amount <= payment.amount
    ):
        return flag_mismatch(
            event,
            payment,
            AmountMismatch(
                f"Dispute {dispute_id}: provider says {amount} {currency}, "
                f"payment is {payment.amount} {payment.currency}."
            ),
        )
    evidence = dispute.get("evidence_details")
    due = evidence.get("due_by") if isinstance(evidence, Mapping) else None
    dispute_apply_fact(
        payment=payment,
        provider=PROVIDER,
        provider_dispute_id=dispute_id,
        status=status,
        amount=amount,
        currency=currency,
        reason=str(dispute.get("reason") or "")[:60],
        evidence_due_by=None if due is None else unix_time(due),
        occurred_at=parsed.occurred_at,
    )
    return HandlerOutcome(affected=[payment])


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
