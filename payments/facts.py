"""The payment family's facts, and the one function that applies each kind.

A provider's webhook module (sandbox, Stripe, Asaas) only verifies a delivery and maps it to
these frozen facts, carrying the provider's own time. Everything else happens here, the same way
for every provider: our row is found (our reference, else the provider's id); a fact about
another provider's row is refused (logged, nothing applied); an id that conflicts with ours, an
amount or currency that disagrees, or an object we never asked for goes on the reconciliation
list, never applied; otherwise the service moves the row under its watermark (a fact older than
the newest one applied is a no-op) and its allowed-transitions map. A fact the row has moved past
is dropped, so any permutation of the same facts, duplicates included, ends in the same state;
one contradicting a final status goes on the reconciliation list and finance is told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from django.db import models, transaction

from integrations.exceptions import InvalidTransition
from integrations.facts import FactOutcome, ObjectNotReady, referenced
from integrations.money import format_money
from payments.disputes import (
    dispute_apply_fact,
    reconciliation_flag,
    reconciliation_flag_contradiction,
)
from payments.models import (
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.money_facts import payment_record_money
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

log = structlog.get_logger(__name__)
Kind = ReconciliationException.Kind


class PaymentFactStatus(StrEnum):
    SEEN = "seen"
    """The provider mentions the payment: it is checked and linked to the provider's id only."""
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RESTORED = "restored"
    """The provider reopened a charge it had deleted: a cancelled payment is pending again."""
    OVERDUE = "overdue"
    """Its due date passed unpaid: a Pix payment expires (a Pix code cannot be paid late), any
    other method waits (a boleto can)."""


class RefundFactStatus(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class PaymentFact:
    """What a provider says about one payment at ``occurred_at`` (its own time).

    ``amount`` is in minor units; None when the provider gave none we can read (a mismatch).
    ``reference`` is ours (``payment:<pk>``), '' when the provider gave none."""

    provider: str
    status: PaymentFactStatus
    occurred_at: datetime | None
    amount: int | None
    currency: str
    reference: str = ""
    provider_payment_id: str = ""
    reason: str = ""
    """Failed or expired: why, for staff."""
    customer_reason: str = ""
    """Failed: a sentence fit for the customer, or ''."""
    reopens: bool = False
    """Succeeded: the provider shows the charge live, so one we hold as cancelled was restored
    first (its restore fact may still be on the way)."""
    order_action: str = ""
    """Overdue: what the ``payment.expired`` subscriber does with the order."""
    fee_amount: int | None = None
    """Succeeded: what the provider kept, minor units of ``settlement_currency`` (Asaas: value -
    netValue), when the event says; None otherwise."""
    net_amount: int | None = None
    settlement_currency: str = ""


@dataclass(frozen=True)
class RefundFact:
    """What a provider says about one of our refunds at ``occurred_at`` (its own time)."""

    provider: str
    status: RefundFactStatus
    occurred_at: datetime | None
    amount: int | None
    currency: str
    reference: str = ""
    """Ours, ``refund:<pk>``; '' when the provider gave none."""
    provider_refund_id: str = ""
    provider_payment_id: str = ""
    """The payment it refunds: where a refund we never asked for is flagged."""
    reason: str = ""
    """Failed: why."""


@dataclass(frozen=True)
class DisputeFact:
    """What a provider says about a dispute (chargeback) on one of our payments."""

    provider: str
    provider_dispute_id: str
    status: DisputeStatus
    occurred_at: datetime | None
    amount: int | None
    """The disputed amount, minor units; None when this fact does not say (then the payment's
    amount, until a fact that says)."""
    currency: str
    reference: str = ""
    """Ours for the payment, ``payment:<pk>``; '' when the provider gave none."""
    provider_payment_id: str = ""
    reason: str = ""
    evidence_due_by: datetime | None = None
    amount_unreadable: bool = False
    """The provider gave an amount we cannot read: a mismatch, nothing applied."""
    fee_amount: int | None = None
    """The provider's dispute fee (minor units of ``fee_currency``); None when it does not say."""
    fee_currency: str = ""


# Finding our rows ------------------------------------------------------------------------------


def _payment_for(provider: str, reference: str, provider_payment_id: str) -> Payment | None:
    """Our payment named by ``reference`` (ObjectNotReady while that row is not committed yet),
    else the one carrying ``provider``'s id, else None."""
    if reference:
        return referenced(Payment, {"reference": reference})
    if not provider_payment_id:
        return None
    return Payment.objects.filter(
        provider=provider, provider_payment_id=provider_payment_id
    ).first()


def _refund_for(fact: RefundFact) -> Refund | None:
    if fact.reference:
        return referenced(Refund, {"reference": fact.reference})
    if not fact.provider_refund_id:
        return None
    return (
        Refund.objects.filter(
            payment__provider=fact.provider, provider_refund_id=fact.provider_refund_id
        )
        .select_related("payment")
        .first()
    )


def _foreign(payment: Payment, provider: str, what: str) -> bool:
    """True (and a warning logged) when ``payment`` is not ``provider``'s: its word is no
    evidence about another provider's payment, so nothing is applied or flagged."""
    if payment.provider == provider:
        return False
    log.warning(
        "webhook.foreign_object_refused",
        fact=what,
        provider=provider,
        payment_id=payment.pk,
        payment_provider=payment.provider,
    )
    return True


def _said(amount: int | None, currency: str) -> str:
    """What the provider said, as money (``R$ 10,00``) when it names a currency."""
    if amount is None:
        return "no readable amount"
    return format_money(amount, currency) if currency else f"{amount} (no currency)"


def _amount_differs(obj: Payment | Refund, amount: int | None, currency: str) -> str:
    """'' when ``amount`` and ``currency`` are ``obj``'s, else what to put on the list."""
    if amount is not None and amount == obj.amount and currency.upper() == obj.currency:
        return ""
    return f"{obj}: provider says {_said(amount, currency)}, we have {format_money(obj.amount, obj.currency)}."


def _flag(
    provider: str,
    kind: str,
    detail: str,
    payment: Payment | None,
    provider_object_id: str,
    webhook_event_id: int | None,
) -> FactOutcome:
    reconciliation_flag(
        provider=provider,
        kind=kind,
        detail=detail,
        payment=payment,
        provider_object_id=provider_object_id,
        webhook_event_id=webhook_event_id,
    )
    return FactOutcome(affected=(payment,) if payment is not None else ())


def _move(
    obj: Payment | Refund,
    *,
    target: str,
    provider: str,
    provider_object_id: str,
    webhook_event_id: int | None,
    action: Callable[[], Any],
) -> None:
    """Run ``action``, the service moving ``obj`` to ``target``. A move the state machine or the
    watermark refuses is dropped when the fact is merely older than what we have; one that
    contradicts ``obj``'s final status goes on the reconciliation list (once per webhook event)."""
    try:
        action()
    except InvalidTransition as exc:
        flagged = reconciliation_flag_contradiction(
            obj=obj,
            target=target,
            provider=provider,
            provider_object_id=provider_object_id,
            webhook_event_id=webhook_event_id,
        )
        if flagged is None:
            log.info("webhook.fact_superseded", provider=provider, detail=str(exc))


# Payments --------------------------------------------------------------------------------------


def payment_fact_apply(*, fact: PaymentFact, webhook_event_id: int | None = None) -> FactOutcome:
    """Apply what ``fact`` says about one of our payments (see the module docstring).

    Raises ObjectNotReady for a reference to a payment we have not recorded yet (the inbox
    retries). ``target`` of the outcome is the payment when it was found and passed the checks
    (whether or not its status moved), else None."""
    payment = _payment_for(fact.provider, fact.reference, fact.provider_payment_id)
    object_id = fact.provider_payment_id
    if payment is None:
        detail = (
            f"{fact.provider} payment {object_id or '?'} "
            f"(reference {fact.reference!r}) is not ours."
        )
        return _flag(fact.provider, Kind.UNKNOWN_OBJECT, detail, None, object_id, webhook_event_id)
    if _foreign(payment, fact.provider, f"payment {fact.status}"):
        return FactOutcome()
    if payment.provider_payment_id and object_id and payment.provider_payment_id != object_id:
        detail = (
            f"{fact.provider} payment {object_id} names {payment}, which is "
            f"{payment.provider} {payment.provider_payment_id}."
        )
        return _flag(
            fact.provider, Kind.CONFLICTING_FACT, detail, payment, object_id, webhook_event_id
        )
    mismatch = _amount_differs(payment, fact.amount, fact.currency)
    if mismatch:
        return _flag(
            fact.provider, Kind.AMOUNT_MISMATCH, mismatch, payment, object_id, webhook_event_id
        )
    if object_id and not payment.provider_payment_id:
        payment = payment_attach_provider_id(payment=payment, provider_payment_id=object_id)
    move = _payment_move(payment, fact)
    if move is not None:
        target, action = move
        _move(
            payment,
            target=target,
            provider=fact.provider,
            provider_object_id=object_id,
            webhook_event_id=webhook_event_id,
            action=action,
        )
    if fact.status == PaymentFactStatus.SUCCEEDED and fact.fee_amount is not None:
        payment = payment_record_money(
            payment=payment,
            fee_amount=fact.fee_amount,
            net_amount=fact.net_amount,
            settlement_currency=fact.settlement_currency,
        )
    return FactOutcome(affected=(payment,), target=payment)


def _payment_move(
    payment: Payment, fact: PaymentFact
) -> tuple[PaymentStatus, Callable[[], Any]] | None:
    """The status ``fact`` moves ``payment`` to and the service doing it; None: nothing moves."""
    at = fact.occurred_at
    S = PaymentFactStatus
    if fact.status == S.SEEN:
        return None
    if fact.status == S.OVERDUE:
        if payment.method != PaymentMethod.PIX:
            return None
        return PaymentStatus.EXPIRED, lambda: payment_mark_expired(
            payment=payment, reason=fact.reason, order_action=fact.order_action, occurred_at=at
        )
    if fact.status == S.SUCCEEDED:
        return PaymentStatus.SUCCEEDED, lambda: _payment_succeed(payment, fact)
    if fact.status == S.RESTORED:
        return PaymentStatus.PENDING, lambda: payment_restore(payment=payment, occurred_at=at)
    if fact.status == S.PROCESSING:
        return PaymentStatus.PROCESSING, lambda: payment_mark_processing(
            payment=payment, occurred_at=at
        )
    if fact.status == S.FAILED:
        return PaymentStatus.FAILED, lambda: payment_mark_failed(
            payment=payment,
            reason=fact.reason or "declined",
            customer_reason=fact.customer_reason,
            occurred_at=at,
        )
    return PaymentStatus.CANCELLED, lambda: payment_cancel(payment=payment, occurred_at=at)


def _payment_succeed(payment: Payment, fact: PaymentFact) -> Payment:
    """Paid. A charge we hold as cancelled that the provider shows live and paid was restored
    first (a deleted charge cannot be paid): the restore is applied here with the payment, in
    one transaction, so every order of delivery ends the same."""
    with transaction.atomic():
        if fact.reopens and payment.status == PaymentStatus.CANCELLED:
            payment_restore(payment=payment, occurred_at=fact.occurred_at)
        return payment_mark_succeeded(payment=payment, occurred_at=fact.occurred_at)


# Refunds ---------------------------------------------------------------------------------------


def refund_fact_apply(*, fact: RefundFact, webhook_event_id: int | None = None) -> FactOutcome:
    """Apply what ``fact`` says about one of our refunds (see the module docstring). A refund we
    never asked for is flagged on its payment. Raises ObjectNotReady for a reference to a refund
    we have not recorded yet."""
    refund = _refund_for(fact)
    object_id = fact.provider_refund_id
    if refund is None:
        payment = _payment_for(fact.provider, "", fact.provider_payment_id)
        detail = (
            f"{fact.provider} refund {object_id or '?'} ({_said(fact.amount, fact.currency)}) "
            "was not requested here."
        )
        return _flag(
            fact.provider, Kind.UNKNOWN_OBJECT, detail, payment, object_id, webhook_event_id
        )
    if _foreign(refund.payment, fact.provider, f"refund {fact.status}"):
        return FactOutcome()
    if refund.provider_refund_id and object_id and refund.provider_refund_id != object_id:
        detail = (
            f"{fact.provider} refund {object_id} names {refund}, "
            f"which is {refund.provider_refund_id}."
        )
        return _flag(
            fact.provider,
            Kind.CONFLICTING_FACT,
            detail,
            refund.payment,
            object_id,
            webhook_event_id,
        )
    mismatch = _amount_differs(refund, fact.amount, fact.currency)
    if mismatch:
        return _flag(
            fact.provider,
            Kind.AMOUNT_MISMATCH,
            mismatch,
            refund.payment,
            object_id,
            webhook_event_id,
        )
    _refund_move(refund, fact, webhook_event_id)
    return FactOutcome(affected=(refund,), target=refund)


def _refund_move(refund: Refund, fact: RefundFact, webhook_event_id: int | None) -> None:
    at = fact.occurred_at
    provider_id = fact.provider_refund_id
    action: Callable[[], Any]
    if fact.status == RefundFactStatus.PROCESSING:
        if refund.status == RefundStatus.FAILED:
            # No provider revives a refund it failed or cancelled (a retry is a new refund): a
            # processing fact on a failed one is an older fact, whatever its time says.
            log.info("webhook.fact_superseded", provider=fact.provider, refund=refund.pk)
            return
        target = RefundStatus.PROCESSING
        action = lambda: refund_mark_processing(  # noqa: E731
            refund=refund, provider_refund_id=provider_id, occurred_at=at
        )
    elif fact.status == RefundFactStatus.SUCCEEDED:
        target = RefundStatus.SUCCEEDED
        action = lambda: refund_mark_succeeded(  # noqa: E731
            refund=refund, provider_refund_id=provider_id, occurred_at=at
        )
    else:
        target = RefundStatus.FAILED
        reason = fact.reason or "Failed at the provider."
        action = lambda: refund_mark_failed(refund=refund, reason=reason, occurred_at=at)  # noqa: E731
    _move(
        refund,
        target=target,
        provider=fact.provider,
        provider_object_id=provider_id,
        webhook_event_id=webhook_event_id,
        action=action,
    )


def refund_facts_apply_for_payment(
    *, payment: Payment, facts: Sequence[RefundFact], webhook_event_id: int | None = None
) -> FactOutcome:
    """Apply the refund facts one provider event lists for ``payment`` (Asaas sends every refund
    of a charge in each event). A fact that names no refund of ours, a refund of another
    payment, or one never approved is flagged (one exception for the event, also when it lists
    no refund at all); the amounts of all the others are checked first, and one mismatch
    applies none of them. Each matched fact then goes through ``refund_fact_apply``."""
    provider = payment.provider
    unmatched: list[str] = []
    matched: list[tuple[Refund, RefundFact]] = []
    for fact in facts:
        try:
            refund = referenced(Refund, {"reference": fact.reference})
        except ObjectNotReady:
            unmatched.append(
                f"{_said(fact.amount, fact.currency)} ({fact.reference or 'no description'})"
            )
            continue
        if refund.payment_id != payment.pk:
            unmatched.append(f"{fact.reference} belongs to another payment")
        elif refund.status == RefundStatus.REQUESTED:
            unmatched.append(f"{refund} was never approved ({refund.status})")
        else:  # a rejected one too: the provider moving it contradicts its final status
            matched.append((refund, fact))
    for refund, fact in matched:
        mismatch = _amount_differs(refund, fact.amount, fact.currency)
        if mismatch:
            return _flag(
                provider,
                Kind.AMOUNT_MISMATCH,
                mismatch,
                payment,
                fact.provider_refund_id,
                webhook_event_id,
            )
    affected: list[models.Model] = [payment]
    for _, fact in matched:
        affected.extend(refund_fact_apply(fact=fact, webhook_event_id=webhook_event_id).affected)
    if unmatched or not matched:
        reconciliation_flag(
            provider=provider,
            kind=Kind.UNKNOWN_OBJECT,
            detail=(
                f"Refunds of {payment} we cannot match: {', '.join(unmatched) or 'none listed'}."
            ),
            payment=payment,
            provider_object_id=payment.provider_payment_id,
            webhook_event_id=webhook_event_id,
        )
    return FactOutcome(affected=tuple(affected), target=payment)


# Disputes --------------------------------------------------------------------------------------


def dispute_fact_apply(*, fact: DisputeFact, webhook_event_id: int | None = None) -> FactOutcome:
    """Open or move the dispute ``fact`` names through ``dispute_apply_fact`` (its watermark:
    an older fact changes nothing; a final status stays). The payment is found by the
    provider's id, else our reference (ObjectNotReady while not recorded yet); an unknown one is
    flagged. A disputed amount that is unreadable, in another currency, or not between one
    minor unit and the payment's amount is a mismatch: flagged, nothing applied."""
    payment = _payment_for(fact.provider, "", fact.provider_payment_id)
    if payment is None and fact.reference:
        payment = _payment_for(fact.provider, fact.reference, "")
    object_id = fact.provider_dispute_id
    if payment is None:
        detail = f"Dispute {object_id} on an unknown payment."
        return _flag(fact.provider, Kind.UNKNOWN_OBJECT, detail, None, object_id, webhook_event_id)
    if _foreign(payment, fact.provider, f"dispute {fact.status}"):
        return FactOutcome()
    amount = fact.amount
    if (
        fact.amount_unreadable
        or fact.currency.upper() != payment.currency
        or (amount is not None and not 0 < amount <= payment.amount)
    ):
        said = "no readable amount" if fact.amount_unreadable else _said(amount, fact.currency)
        detail = (
            f"Chargeback {object_id} on {payment}: provider says {said}, "
            f"payment is {format_money(payment.amount, payment.currency)}."
        )
        return _flag(
            fact.provider, Kind.AMOUNT_MISMATCH, detail, payment, object_id, webhook_event_id
        )
    dispute = dispute_apply_fact(
        payment=payment,
        provider=fact.provider,
        provider_dispute_id=fact.provider_dispute_id,
        status=fact.status,
        amount=amount,
        currency=fact.currency.upper(),
        reason=fact.reason[:60],
        evidence_due_by=fact.evidence_due_by,
        occurred_at=fact.occurred_at,
        fee_amount=fact.fee_amount,
        fee_currency=fact.fee_currency,
    )
    return FactOutcome(affected=(payment, dispute), target=dispute)
