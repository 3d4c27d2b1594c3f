"""``POST /webhooks/asaas/``: Asaas payment events, applied through the payment services.

Asaas signs nothing (CONTRACTS §2): the ``authToken`` configured on the webhook comes back
verbatim in the ``asaas-access-token`` header, compared here in constant time with
``ASAAS_WEBHOOK_TOKEN`` (and, while rotating, ``ASAAS_WEBHOOK_TOKEN_PREVIOUS``). The envelope is ``{"id": "evt_...", "event": "PAYMENT_...",
"dateCreated": "...", "payment": {...}}``; the event id is stable across redeliveries.

This module only verifies a delivery and maps it to ``payments.facts``: the charge (our
``externalReference``, ``payment:<pk>``, else its Asaas id; its amount, ``originalValue`` when
interest changed ``value``), the ``refunds[]`` items (named by their ``description``, where the
adapter sends ``refund:<pk>``) and the chargeback, each with the envelope's ``dateCreated`` as
its time. Applying them (another provider's payment refused, a mismatch or a contradiction of a
final status put on the reconciliation list, the watermark, the transitions) is the same for
every provider. A restored charge (PAYMENT_RESTORED) is open again; a Pix charge overdue
(PAYMENT_OVERDUE) expires; a refused card capture or risk analysis fails the payment; a refund
CANCELLED at Asaas has failed, and a late PENDING never revives it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings

from integrations.facts import FactOutcome, in_event_context
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
from payments.facts import (
    DisputeFact,
    PaymentFact,
    PaymentFactStatus,
    RefundFact,
    RefundFactStatus,
    dispute_fact_apply,
    payment_fact_apply,
    refund_facts_apply_for_payment,
)
from payments.models import DisputeStatus, Payment
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

TOKEN_HEADER = "asaas-access-token"  # noqa: S105 - a header name, not a secret
MAX_TOKEN_LENGTH = 1024

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


# Mapping a payload to facts ------------------------------------------------------------------


def _payment_data(parsed: ParsedWebhook) -> Mapping[str, Any]:
    data = parsed.payload.get("payment")
    if not isinstance(data, Mapping):
        raise MalformedWebhook('An Asaas payment event must carry an object "payment".')
    return data


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


def _readable_minor(value: Any) -> int | None:
    """``_minor``, None for a value that is not an amount (the fact is then a mismatch)."""
    try:
        return _minor(value)
    except AsaasMoneyError:
        return None


def _amount(data: Mapping[str, Any]) -> int | None:
    """What Asaas says the charge is for, in centavos: ``originalValue`` when a late payment's
    interest or fine changed ``value``, else ``value``; None when unreadable."""
    return _readable_minor(data.get("originalValue") or data.get("value"))


PIX_EXPIRED_REASON = "The Pix code was not paid by its due date."

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

S = PaymentFactStatus
PAYMENT_EVENT_STATUS: dict[str, PaymentFactStatus] = {
    "PAYMENT_CREATED": S.SEEN,
    "PAYMENT_UPDATED": S.SEEN,
    # A boleto may still be paid late (it stays pending); a Pix charge expires (our Pix codes
    # are due the next day) and its order follows ASAAS_PIX_EXPIRED_ORDER_ACTION.
    "PAYMENT_OVERDUE": S.OVERDUE,
    "PAYMENT_CONFIRMED": S.SUCCEEDED,
    "PAYMENT_RECEIVED": S.SUCCEEDED,
    "PAYMENT_DUNNING_RECEIVED": S.SUCCEEDED,
    "PAYMENT_DELETED": S.CANCELLED,
    # A deleted charge restored at Asaas can be paid again.
    "PAYMENT_RESTORED": S.RESTORED,
    # Card charges: a manual risk analysis holds it (processing) until approved (then
    # CONFIRMED) or refused; a refused capture or risk analysis ends it.
    "PAYMENT_AWAITING_RISK_ANALYSIS": S.PROCESSING,
    "PAYMENT_APPROVED_BY_RISK_ANALYSIS": S.SEEN,
    "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED": S.FAILED,
    "PAYMENT_REPROVED_BY_RISK_ANALYSIS": S.FAILED,
}
# Refunds, chargebacks: the charge itself is only checked and linked.
for _event in (
    "PAYMENT_REFUNDED",
    "PAYMENT_PARTIALLY_REFUNDED",
    "PAYMENT_REFUND_IN_PROGRESS",
    *CHARGEBACK_EVENT_STATUS,
):
    PAYMENT_EVENT_STATUS[_event] = S.SEEN


def payment_fact_from(parsed: ParsedWebhook) -> PaymentFact:
    """The charge in an Asaas ``PAYMENT_*`` event as a fact. Our payment is named by
    ``externalReference`` (``payment:<pk>``, set by the adapter), else by its Asaas id."""
    data = _payment_data(parsed)
    status = PAYMENT_EVENT_STATUS[parsed.event_type]
    reference = str(data.get("externalReference") or "")
    reason, customer_reason = CARD_FAILURES.get(parsed.event_type, ("", ""))
    if status == S.OVERDUE:
        reason = PIX_EXPIRED_REASON
    fee, net = _fee_and_net(data) if status == S.SUCCEEDED else (None, None)
    return PaymentFact(
        provider=PROVIDER,
        status=status,
        occurred_at=parsed.occurred_at,
        amount=_amount(data),
        currency=CURRENCY,
        reference=reference if reference.startswith("payment:") else "",
        provider_payment_id=str(data.get("id") or ""),
        reason=reason,
        customer_reason=customer_reason,
        # Paid although we hold it cancelled: a charge Asaas shows live was restored first.
        reopens=data.get("deleted") is False,
        order_action=settings.ASAAS_PIX_EXPIRED_ORDER_ACTION if status == S.OVERDUE else "",
        fee_amount=fee,
        net_amount=net,
        settlement_currency=CURRENCY if fee is not None else "",
    )


def _fee_and_net(data: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Asaas's fee (``value`` - ``netValue``) and ``netValue``, in centavos; (None, None) when
    either is missing or unreadable, or the net is negative or above the value."""
    value = _readable_minor(data.get("value"))
    net = _readable_minor(data.get("netValue")) if data.get("netValue") is not None else None
    if value is None or net is None or not 0 <= net <= value:
        return None, None
    return value - net, net


REFUND_ITEM_STATUS = {"DONE": RefundFactStatus.SUCCEEDED, "CANCELLED": RefundFactStatus.FAILED}


def refund_facts_from(parsed: ParsedWebhook) -> list[RefundFact]:
    """Every ``refunds[]`` item of the charge as a fact: our refund is named by the item's
    ``description`` (the adapter sends ``refund:<pk>`` there); PENDING is processing, DONE
    succeeded, CANCELLED failed. Asaas refunds have no id: ours is the charge's plus the
    reference."""
    data = _payment_data(parsed)
    asaas_id = str(data.get("id") or "")
    items = data.get("refunds") or []
    facts = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        reference = str(item.get("description") or "").strip()
        facts.append(
            RefundFact(
                provider=PROVIDER,
                status=REFUND_ITEM_STATUS.get(
                    str(item.get("status", "")), RefundFactStatus.PROCESSING
                ),
                occurred_at=parsed.occurred_at,
                amount=_readable_minor(item.get("value")),
                currency=CURRENCY,
                reference=reference,
                provider_refund_id=provider_refund_id(asaas_id, reference),
                provider_payment_id=asaas_id,
                reason="Cancelled at Asaas.",
            )
        )
    return facts


def _evidence_deadline(value: Any) -> datetime | None:
    """``chargeback.deadlineToSendDisputeDocuments`` (a date): the end of that day in Brasília,
    in UTC; None when absent or not a date. MalformedWebhook when out of the plausible range."""
    day = parse_date(value)
    if day is None:
        return None
    return bounded_time(datetime.combine(day, time(23, 59, 59), tzinfo=ASAAS_TZ))


def dispute_fact_from(parsed: ParsedWebhook) -> DisputeFact:
    """The chargeback of the charge as a fact (one chargeback per charge): its status from
    ``chargeback.status`` when the payload has it, else from the event; its own ``value`` (it
    may be less than the charge's; not said when absent) and evidence deadline."""
    data = _payment_data(parsed)
    chargeback = data.get("chargeback")
    chargeback = chargeback if isinstance(chargeback, Mapping) else {}
    value = chargeback.get("value")
    amount = None if value is None else _readable_minor(value)
    reference = str(data.get("externalReference") or "")
    return DisputeFact(
        provider=PROVIDER,
        provider_dispute_id=f"{data.get('id')}:chargeback",
        status=CHARGEBACK_STATUS.get(
            str(chargeback.get("status", "")), CHARGEBACK_EVENT_STATUS[parsed.event_type]
        ),
        occurred_at=parsed.occurred_at,
        amount=amount,
        amount_unreadable=value is not None and amount is None,
        currency=CURRENCY,
        reference=reference if reference.startswith("payment:") else "",
        provider_payment_id=str(data.get("id") or ""),
        reason=str(chargeback.get("reason") or ""),
        evidence_due_by=_evidence_deadline(chargeback.get("deadlineToSendDisputeDocuments")),
    )


# Handlers -----------------------------------------------------------------------------------


def _checked_payment(event: WebhookEvent, parsed: ParsedWebhook) -> FactOutcome:
    return payment_fact_apply(fact=payment_fact_from(parsed), webhook_event_id=event.pk)


def handle_payment(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """A ``PAYMENT_*`` event about the charge itself."""
    return HandlerOutcome(affected=_checked_payment(event, parsed).affected)


def handle_refunds(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """PAYMENT_REFUNDED / _PARTIALLY_REFUNDED / _REFUND_IN_PROGRESS: the charge is checked, then
    its ``refunds[]`` applied (``refund_facts_apply_for_payment``)."""
    facts = refund_facts_from(parsed)  # before any write: a malformed item applies nothing
    checked = _checked_payment(event, parsed)
    if not isinstance(checked.target, Payment):
        return HandlerOutcome(affected=checked.affected)
    outcome = refund_facts_apply_for_payment(
        payment=checked.target, facts=facts, webhook_event_id=event.pk
    )
    return HandlerOutcome(affected=outcome.affected)


def handle_chargeback(event: WebhookEvent, parsed: ParsedWebhook) -> HandlerOutcome:
    """PAYMENT_CHARGEBACK_REQUESTED / _DISPUTE / PAYMENT_AWAITING_CHARGEBACK_REVERSAL: the charge
    is checked, then the chargeback opens or moves the payment's Dispute (the first fact flags
    the order). A value that is not an amount, or not between one centavo and the payment's
    amount, is a mismatch: flagged, nothing applied."""
    fact = dispute_fact_from(parsed)  # before any write: a malformed deadline applies nothing
    checked = _checked_payment(event, parsed)
    if checked.target is None:
        return HandlerOutcome(affected=checked.affected)
    return HandlerOutcome(dispute_fact_apply(fact=fact, webhook_event_id=event.pk).affected)


HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(PAYMENT_EVENT_STATUS, handle_payment),
    "PAYMENT_REFUNDED": handle_refunds,
    "PAYMENT_PARTIALLY_REFUNDED": handle_refunds,
    "PAYMENT_REFUND_IN_PROGRESS": handle_refunds,
    **dict.fromkeys(CHARGEBACK_EVENT_STATUS, handle_chargeback),
}
HANDLERS = {event_type: in_event_context(h) for event_type, h in HANDLERS.items()}


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
