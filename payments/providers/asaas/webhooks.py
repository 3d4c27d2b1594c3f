"""``POST /webhooks/asaas/``: Asaas payment events, applied through the payment services.

Asaas signs nothing (CONTRACTS §2): the ``authToken`` configured on the webhook comes back
verbatim in the ``asaas-access-token`` header, compared here in constant time with
``ASAAS_WEBHOOK_TOKEN`` (and, while rotating, ``ASAAS_WEBHOOK_TOKEN_PREVIOUS``). The envelope is ``{"id": "evt_...", "event": "PAYMENT_...",
"dateCreated": "...", "payment": {...}}``; the event id is stable across redeliveries.

Our payment is found by ``externalReference`` (``payment:<pk>``, set by the adapter), else by
its Asaas id; our refunds by the ``description`` of Asaas's ``refunds[]`` items (the adapter
sends ``refund:<pk>`` there). A reference to another provider's payment is refused (logged,
nothing applied). Every fact goes through a service, so duplicates and any order of delivery end
in the same state; an amount that disagrees with ours, or a fact contradicting a final status
(paid although Asaas still shows it deleted, a rejected refund done), goes to the reconciliation
list instead of being applied. A restored charge (PAYMENT_RESTORED) is open again; a Pix charge
overdue (PAYMENT_OVERDUE) expires; a refused card capture or risk analysis fails the payment.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, time
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction

from integrations.facts import AmountMismatch, ObjectNotReady, referenced
from integrations.models import WebhookEvent
from integrations.webhooks.registry import (
    INT64_MAX,
    Handler,
    HandlerOutcome,
    MalformedWebhook,
    ParsedWebhook,
    SignatureRejected,
    bounded_time,
    load_json,
)
from payments.disputes import dispute_apply_fact, reconciliation_flag
from payments.models import (
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.providers.asaas.adapter import provider_refund_id
from payments.providers.asaas.client import (
    ASAAS_TZ,
    CURRENCY,
    PROVIDER,
    AsaasMoneyError,
    parse_date,
    parse_datetime,
    to_minor,
)
from payments.services import (
    payment_attach_provider_id,
    payment_cancel,
    payment_mark_expired,
    payment_mark_failed,
    payment_mark_processing,
    payment_mark_succeeded,
    payment_restore,
    refund_mark_failed,
    refund_mark_processing,
    refund_mark_succeeded,
)
from payments.webhook_handlers import apply_provider_fact, flag_mismatch, refuse_foreign

TOKEN_HEADER = "asaas-access-token"  # noqa: S105 - a header name, not a secret
MAX_TOKEN_LENGTH = 1024
Kind = ReconciliationException.Kind

# Chargeback: chargeback.status when the payload has it, else the event says it.
CHARGEBACK_STATUS = {
    "REQUESTED": DisputeStatus.NEEDS_RESPONSE,
    "IN_DISPUTE": DisputeStatus.UNDER_REVIEW,
    "DISPUTE_LOST": DisputeStatus.LOST,
    "DONE": DisputeStatus.LOST,  # the chargeback went through: the money is gone
    "REVERSED": DisputeStatus.WON,
}
CHARGEBACK_EVENT_STATUS = {
    "PAYMENT_CHARGEBACK_REQUESTED": DisputeStatus.NEEDS_RESPONSE,
    "PAYMENT_CHARGEBACK_DISPUTE": DisputeStatus.UNDER_REVIEW,
    # Dispute won, the acquirer has yet to hand the money back.
    "PAYMENT_AWAITING_CHARGEBACK_REVERSAL": DisputeStatus.WON,
}


def _tokens() -> list[str]:
    """The tokens accepted now: ``ASAAS_WEBHOOK_TOKEN`` and ``ASAAS_WEBHOOK_TOKEN_PREVIOUS``,
    each a comma-separated list during a rotation; trimmed, blanks never accepted."""
    values = [settings.ASAAS_WEBHOOK_TOKEN, getattr(settings, "ASAAS_WEBHOOK_TOKEN_PREVIOUS", "")]
    return [t.strip() for value in values for t in str(value or "").split(",") if t.strip()]


# Locating our rows --------------------------------------------------------------------------


def _payment_data(parsed: ParsedWebhook) -> Mapping[str, Any]:
    data = parsed.payload.get("payment")
    if not isinstance(data, Mapping):
        raise MalformedWebhook('An Asaas payment event must carry an object "payment".')
    return data


def _locate(event: WebhookEvent, data: Mapping[str, Any]) -> Payment | None:
    """Our payment for the Asaas payment ``data``; None when it is not ours (flagged as an
    unknown object). Raises ObjectNotReady for a reference to a row we do not have yet."""
    reference = str(data.get("externalReference") or "")
    if reference.startswith("payment:"):
        return referenced(Payment, data, key="externalReference")
    asaas_id = str(data.get("id") or "")
    payment = (
        Payment.objects.filter(provider=PROVIDER, provider_payment_id=asaas_id).first()
        if asaas_id
        else None
    )
    if payment is None:
        reconciliation_flag(
            provider=PROVIDER,
            kind=Kind.UNKNOWN_OBJECT,
            detail=f"Asaas payment {asaas_id or '?'} (externalReference {reference!r}) is not ours.",
            provider_object_id=asaas_id,
            webhook_event_id=event.pk,
        )
    return payment


def _minor(value: Any) -> int:
    """``to_minor`` for a value a sender wrote: a string past 64 bits (``"1e999999999"`` made
    the decimal context overflow, ``"1e500000"`` a number too long to print) is refused like any
    other unreadable amount (AsaasMoneyError). JSON numbers are bounded by ``load_json``."""
    if isinstance(value, str):
        try:
            in_range = Decimal(value.strip()).copy_abs() <= INT64_MAX
        except ArithmeticError:  # not a number, or NaN
            in_range = False
        if not in_range:
            raise AsaasMoneyError(f"Not an amount: {value[:40]!r}.")
    return to_minor(value)


def _amount(data: Mapping[str, Any]) -> int:
    """What Asaas says the charge is for, in centavos: ``originalValue`` when a late payment's
    interest or fine changed ``value``, else ``value``."""
    return _minor(data.get("originalValue") or data.get("value"))


def _checked(
    event: WebhookEvent, data: Mapping[str, Any]
) -> tuple[Payment | None, HandlerOutcome | None]:
    """Our payment, amount-checked and linked to its Asaas id; or the outcome to return now
    (not ours, amount mismatch, conflicting id)."""
    payment = _locate(event, data)
    if payment is None:
        return None, HandlerOutcome()
    refused = refuse_foreign(event, payment, PROVIDER)
    if refused is not None:
        return None, refused
    try:
        amount = _amount(data)
    except AsaasMoneyError as exc:
        return None, flag_mismatch(event, payment, AmountMismatch(f"{payment}: {exc}"))
    if amount != payment.amount or payment.currency != CURRENCY:
        mismatch = AmountMismatch(
            f"{payment}: provider says {amount} {CURRENCY}, "
            f"we have {payment.amount} {payment.currency}."
        )
        return None, flag_mismatch(event, payment, mismatch)
    asaas_id = str(data.get("id") or "")
    if payment.provider_payment_id and asaas_id and payment.provider_payment_id != asaas_id:
        reconciliation_flag(
            provider=PROVIDER,
            kind=Kind.CONFLICTING_FACT,
            detail=(
                f"Asaas payment {asaas_id} names {payment} "
                f"({payment.provider} {payment.provider_payment_id or 'no id'})."
            ),
            payment=payment,
            provider_object_id=asaas_id,
            webhook_event_id=event.pk,
        )
        return None, HandlerOutcome(affected=[payment])
    if asaas_id and not payment.provider_payment_id:
        payment = payment_attach_provider_id(payment=payment, provider_payment_id=asaas_id)
    return payment, None


# Handlers -----------------------------------------------------------------------------------


def _payment_handler(
    target: str | None = None, action: Callable[[Payment, ParsedWebhook], Any] | None = None
) -> Handler:
    """A handler that checks and links the payment, then applies ``action``, which moves it to
    ``target`` (None: just the check and link)."""

    def handle(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
        payment, early = _checked(event, _payment_data(parsed))
        if payment is None:
            return early or HandlerOutcome()
        if target is None or action is None:
            return HandlerOutcome(affected=[payment])
        return apply_provider_fact(
            event,
            parsed,
            payment,
            target=target,
            provider=PROVIDER,
            action=lambda: action(payment, parsed),
        )

    return handle


def _succeed(payment: Payment, parsed: ParsedWebhook) -> Any:
    """Paid. A charge we hold as cancelled that Asaas shows live (``deleted: false``) and paid
    was restored first (a deleted charge cannot be paid): its PAYMENT_RESTORED may still be on
    the way, so the restore is applied here with the payment, in one transaction, and every
    order of delivery ends the same."""
    with transaction.atomic():
        live = _payment_data(parsed).get("deleted") is False
        if live and payment.status == PaymentStatus.CANCELLED:
            payment_restore(payment=payment, occurred_at=parsed.occurred_at)
        return payment_mark_succeeded(payment=payment, occurred_at=parsed.occurred_at)


def _restore(payment: Payment, parsed: ParsedWebhook) -> Any:
    return payment_restore(payment=payment, occurred_at=parsed.occurred_at)


PIX_EXPIRED_REASON = "The Pix code was not paid by its due date."


def handle_overdue(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """PAYMENT_OVERDUE: the due date passed unpaid. A boleto may still be paid late, so it stays
    pending; a Pix charge expires (our Pix codes are due the next day) and its order follows
    ``ASAAS_PIX_EXPIRED_ORDER_ACTION`` through the ``payment.expired`` subscriber."""
    payment, early = _checked(event, _payment_data(parsed))
    if payment is None:
        return early or HandlerOutcome()
    if payment.method != PaymentMethod.PIX:
        return HandlerOutcome(affected=[payment])
    return apply_provider_fact(
        event,
        parsed,
        payment,
        target=PaymentStatus.EXPIRED,
        provider=PROVIDER,
        action=lambda: payment_mark_expired(
            payment=payment,
            reason=PIX_EXPIRED_REASON,
            order_action=settings.ASAAS_PIX_EXPIRED_ORDER_ACTION,
            occurred_at=parsed.occurred_at,
        ),
    )


def _cancel(payment: Payment, parsed: ParsedWebhook) -> Any:
    return payment_cancel(payment=payment, occurred_at=parsed.occurred_at)


def _processing(payment: Payment, parsed: ParsedWebhook) -> Any:
    return payment_mark_processing(payment=payment, occurred_at=parsed.occurred_at)


# Events that end a card charge: our reason (staff) and what the customer is told.
CARD_FAILURES = {
    "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED": (
        "Asaas: the card capture was refused.",
        "Your card was declined.",
    ),
    "PAYMENT_REPROVED_BY_RISK_ANALYSIS": (
        "Asaas: refused by the risk analysis.",
        "The card payment was not approved.",
    ),
}


def _fail(payment: Payment, parsed: ParsedWebhook) -> Any:
    reason, customer_reason = CARD_FAILURES[parsed.event_type]
    return payment_mark_failed(
        payment=payment,
        reason=reason,
        customer_reason=customer_reason,
        occurred_at=parsed.occurred_at,
    )


REFUND_TARGETS = {"DONE": RefundStatus.SUCCEEDED, "CANCELLED": RefundStatus.FAILED}


def _refund_action(refund: Refund, item: Mapping[str, Any], parsed: ParsedWebhook) -> Any:
    status = str(item.get("status", ""))
    at = parsed.occurred_at
    provider_id = provider_refund_id(refund.payment.provider_payment_id, f"refund:{refund.pk}")
    if status == "DONE":
        return refund_mark_succeeded(refund=refund, provider_refund_id=provider_id, occurred_at=at)
    if status == "CANCELLED":
        return refund_mark_failed(refund=refund, reason="Cancelled at Asaas.", occurred_at=at)
    return refund_mark_processing(refund=refund, provider_refund_id=provider_id, occurred_at=at)


def handle_refunds(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """PAYMENT_REFUNDED / _PARTIALLY_REFUNDED / _REFUND_IN_PROGRESS: every ``refunds[]`` item
    that names one of our refunds moves it (PENDING -> processing, DONE -> succeeded,
    CANCELLED -> failed); an item we cannot match, or whose value disagrees, is flagged."""
    data = _payment_data(parsed)
    payment, early = _checked(event, data)
    if payment is None:
        return early or HandlerOutcome()
    affected: list[Any] = [payment]
    unmatched: list[str] = []
    matched: list[tuple[Refund, Mapping[str, Any]]] = []
    items = data.get("refunds") or []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        description = str(item.get("description") or "").strip()
        try:
            refund = referenced(Refund, {"reference": description})
        except ObjectNotReady:
            unmatched.append(f"{item.get('value')} ({description or 'no description'})")
            continue
        if refund.payment_id != payment.pk:
            unmatched.append(f"{description} belongs to another payment")
        elif refund.status == RefundStatus.REQUESTED:
            unmatched.append(f"{refund} was never approved ({refund.status})")
        else:  # a rejected one too: Asaas moving it contradicts its final status
            matched.append((refund, item))
    for refund, item in matched:  # all amounts first: a mismatch applies nothing
        try:
            value = _minor(item.get("value"))
        except AsaasMoneyError as exc:
            return flag_mismatch(event, payment, AmountMismatch(f"{refund}: {exc}"))
        if value != refund.amount:
            detail = (
                f"{refund}: provider says {value} {CURRENCY}, "
                f"we have {refund.amount} {refund.currency}."
            )
            return flag_mismatch(event, payment, AmountMismatch(detail))
    for refund, item in matched:
        apply_provider_fact(
            event,
            parsed,
            refund,
            target=REFUND_TARGETS.get(str(item.get("status", "")), RefundStatus.PROCESSING),
            provider=PROVIDER,
            action=partial(_refund_action, refund, item, parsed),
        )
        affected.append(refund)
    if unmatched or len(affected) == 1:
        reconciliation_flag(
            provider=PROVIDER,
            kind=Kind.UNKNOWN_OBJECT,
            detail=(
                f"{parsed.event_type} for {payment}: refunds we cannot match: "
                f"{', '.join(unmatched) or 'none listed'}."
            ),
            payment=payment,
            provider_object_id=str(data.get("id") or ""),
            webhook_event_id=event.pk,
        )
    return HandlerOutcome(affected=affected)


def _evidence_deadline(value: Any) -> datetime | None:
    """``chargeback.deadlineToSendDisputeDocuments`` (a date): the end of that day in Brasília,
    in UTC; None when absent or not a date. MalformedWebhook when out of the plausible range."""
    day = parse_date(value)
    if day is None:
        return None
    return bounded_time(datetime.combine(day, time(23, 59, 59), tzinfo=ASAAS_TZ))


def handle_chargeback(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """PAYMENT_CHARGEBACK_REQUESTED / _DISPUTE / PAYMENT_AWAITING_CHARGEBACK_REVERSAL: open or
    move the payment's Dispute (the first fact flags the order). One chargeback per payment.

    The dispute is for the chargeback's own ``value`` (it may be less than the payment's; the
    payment's amount only when Asaas does not say), and its evidence deadline is the
    chargeback's ``deadlineToSendDisputeDocuments``. A value that is not an amount, or not
    between one centavo and the payment's amount, is a mismatch: flagged, nothing applied."""
    data = _payment_data(parsed)
    payment, early = _checked(event, data)
    if payment is None:
        return early or HandlerOutcome()
    chargeback = data.get("chargeback")
    chargeback = chargeback if isinstance(chargeback, Mapping) else {}
    status = CHARGEBACK_STATUS.get(
        str(chargeback.get("status", "")), CHARGEBACK_EVENT_STATUS[parsed.event_type]
    )
    amount: int | None = None
    if chargeback.get("value") is not None:
        try:
            amount = _minor(chargeback["value"])
        except AsaasMoneyError as exc:
            return flag_mismatch(event, payment, AmountMismatch(f"Chargeback on {payment}: {exc}"))
        if not 0 < amount <= payment.amount:
            detail = (
                f"Chargeback on {payment}: provider says {amount} {CURRENCY}, "
                f"payment is {payment.amount} {payment.currency}."
            )
            return flag_mismatch(event, payment, AmountMismatch(detail))
    dispute = dispute_apply_fact(
        payment=payment,
        provider=PROVIDER,
        provider_dispute_id=f"{data.get('id')}:chargeback",
        status=status,
        amount=amount,
        currency=CURRENCY,
        reason=str(chargeback.get("reason") or "")[:60],
        evidence_due_by=_evidence_deadline(chargeback.get("deadlineToSendDisputeDocuments")),
        occurred_at=parsed.occurred_at,
    )
    return HandlerOutcome(affected=[payment, dispute])


HANDLERS: dict[str, Handler] = {
    "PAYMENT_CREATED": _payment_handler(),
    "PAYMENT_UPDATED": _payment_handler(),
    "PAYMENT_OVERDUE": handle_overdue,
    "PAYMENT_CONFIRMED": _payment_handler(PaymentStatus.SUCCEEDED, _succeed),
    "PAYMENT_RECEIVED": _payment_handler(PaymentStatus.SUCCEEDED, _succeed),
    "PAYMENT_DUNNING_RECEIVED": _payment_handler(PaymentStatus.SUCCEEDED, _succeed),
    "PAYMENT_DELETED": _payment_handler(PaymentStatus.CANCELLED, _cancel),
    # A deleted charge restored at Asaas can be paid again.
    "PAYMENT_RESTORED": _payment_handler(PaymentStatus.PENDING, _restore),
    # Card charges: a manual risk analysis holds it (processing) until approved (then
    # CONFIRMED) or refused; a refused capture or risk analysis ends it.
    "PAYMENT_AWAITING_RISK_ANALYSIS": _payment_handler(PaymentStatus.PROCESSING, _processing),
    "PAYMENT_APPROVED_BY_RISK_ANALYSIS": _payment_handler(),
    "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED": _payment_handler(PaymentStatus.FAILED, _fail),
    "PAYMENT_REPROVED_BY_RISK_ANALYSIS": _payment_handler(PaymentStatus.FAILED, _fail),
    "PAYMENT_REFUNDED": handle_refunds,
    "PAYMENT_PARTIALLY_REFUNDED": handle_refunds,
    "PAYMENT_REFUND_IN_PROGRESS": handle_refunds,
    "PAYMENT_CHARGEBACK_REQUESTED": handle_chargeback,
    "PAYMENT_CHARGEBACK_DISPUTE": handle_chargeback,
    "PAYMENT_AWAITING_CHARGEBACK_REVERSAL": handle_chargeback,
}


class AsaasWebhookEndpoint:
    """The ``WebhookEndpoint`` for Asaas; the token is read from settings at each delivery."""

    name = PROVIDER
    secret_headers = frozenset({TOKEN_HEADER})

    def verify(self, *, headers: Mapping[str, str], body: bytes) -> None:
        """Raise SignatureRejected unless ``asaas-access-token`` equals one of the accepted
        tokens (``_tokens``: while rotating, the new and the old), compared in constant time
        with every one of them."""
        tokens = _tokens()
        if not tokens:
            raise SignatureRejected("No ASAAS_WEBHOOK_TOKEN configured.")
        given = next((v for k, v in headers.items() if k.lower() == TOKEN_HEADER), None)
        if given is None:
            raise SignatureRejected(f"Missing {TOKEN_HEADER} header.")
        if len(given) > MAX_TOKEN_LENGTH:
            raise SignatureRejected(f"{TOKEN_HEADER} header too long.")
        matched = False
        for token in tokens:
            matched |= hmac.compare_digest(given.encode(), token.encode())
        if not matched:
            raise SignatureRejected(f"Wrong {TOKEN_HEADER}.")

    def parse(self, *, headers: Mapping[str, str], body: bytes) -> ParsedWebhook:
        """Read the envelope; raise MalformedWebhook for anything else. The event id is the
        payload's ``id``, else one derived from event, payment id and ``dateCreated``."""
        payload = load_json(body, decimals=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            raise MalformedWebhook('Body must be an object with a string "event".')
        event_type: str = payload["event"]
        payment = payload.get("payment")
        if event_type.startswith("PAYMENT_") and not isinstance(payment, dict):
            raise MalformedWebhook('An Asaas payment event must carry an object "payment".')
        object_id = str(payment.get("id") or "") if isinstance(payment, dict) else ""
        event_id = payload.get("id")
        if not isinstance(event_id, str) or not event_id:
            seed = f"{event_type}|{object_id}|{payload.get('dateCreated', '')}"
            event_id = f"derived_{hashlib.sha256(seed.encode()).hexdigest()[:40]}"
        return ParsedWebhook(
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            occurred_at=_date_created(payload.get("dateCreated")),
            object_id=object_id[:200],
        )

    def handler_for(self, event_type: str) -> Handler | None:
        return HANDLERS.get(event_type)


def _date_created(value: Any) -> datetime | None:
    """``dateCreated`` in UTC; MalformedWebhook when it cannot be (``"9999-12-31 23:59:59"`` in
    Brasília time is past year 9999 in UTC). ParsedWebhook refuses the implausible rest."""
    try:
        return parse_datetime(value)
    except OverflowError:
        raise MalformedWebhook("dateCreated is out of range.") from None


endpoint = AsaasWebhookEndpoint()
