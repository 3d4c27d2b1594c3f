"""Disputes and chargebacks, from any provider's facts; and the reconciliation exception list."""

from __future__ import annotations

from datetime import datetime

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.events import record_event
from integrations.money import format_money
from integrations.transitions import Transitions, lock
from orders.models import OrderStatus
from orders.services import order_flag
from payments.models import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)

log = structlog.get_logger(__name__)

D = DisputeStatus
DISPUTE_TRANSITIONS: Transitions = {
    D.NEEDS_RESPONSE: frozenset({D.UNDER_REVIEW, D.WON, D.LOST, D.CLOSED}),
    D.UNDER_REVIEW: frozenset({D.NEEDS_RESPONSE, D.WON, D.LOST, D.CLOSED}),
    D.WON: frozenset(),
    D.LOST: frozenset(),
    D.CLOSED: frozenset(),
}
FINAL = frozenset({D.WON, D.LOST, D.CLOSED})


def dispute_apply_fact(
    *,
    payment: Payment,
    provider: str,
    provider_dispute_id: str,
    status: str,
    amount: int | None,
    currency: str,
    reason: str = "",
    evidence_due_by: datetime | None = None,
    occurred_at: datetime | None = None,
    fee_amount: int | None = None,
    fee_currency: str = "",
) -> Dispute:
    """Record what the provider says about a dispute: the first fact opens it (the order is
    flagged, finance is told through the ``dispute.opened`` event), later ones move it.

    ``amount`` is the disputed amount the provider gives (it may be less than the payment's);
    None when this fact does not say, then the dispute opens for the payment's amount until a
    fact gives one. The amount and the deadline (``evidence_due_by``) are those of the newest
    fact that gives them, in whatever order the facts arrive. ``fee_amount`` (the provider's
    dispute fee, in ``fee_currency``) is that of the newest fact applied that gives one (or of
    any fact while none did), so ``dispute.won`` / ``dispute.lost`` carry it for the journal.

    Idempotent and order-insensitive: a fact older than the dispute's watermark, or one that
    would leave a final status (won, lost, closed), changes nothing. Never touches the order's
    status: a cancelled or refunded order stays so."""
    at = occurred_at or timezone.now()
    target = DisputeStatus(status)
    with transaction.atomic():
        dispute = Dispute.objects.filter(
            provider=provider, provider_dispute_id=provider_dispute_id
        ).first()
        if dispute is None:
            try:
                with transaction.atomic():
                    dispute = Dispute.objects.create(
                        payment=payment,
                        provider=provider,
                        provider_dispute_id=provider_dispute_id,
                        reason=reason,
                        amount=payment.amount if amount is None else amount,
                        amount_stated_at=None if amount is None else at,
                        currency=currency.upper(),
                        status=target,
                        evidence_due_by=evidence_due_by,
                        evidence_due_by_stated_at=None if evidence_due_by is None else at,
                        fee_amount=fee_amount,
                        fee_currency=fee_currency.upper() if fee_amount is not None else "",
                        provider_updated_at=at,
                        opened_at=at,
                        closed_at=at if target in FINAL else None,
                    )
            except IntegrityError:  # a concurrent delivery created it first
                dispute = Dispute.objects.get(
                    provider=provider, provider_dispute_id=provider_dispute_id
                )
            else:
                order = payment.order
                record_event(
                    type="dispute.opened",
                    customer=order.customer,
                    subject=dispute,
                    actor_label=provider,
                    occurred_at=at,
                    data=_data(dispute, order.number),
                )
                order_flag(
                    order=order,
                    reason=f"Dispute {provider_dispute_id} ({reason or 'no reason given'})",
                )
                return dispute
        dispute = lock(dispute, "payment__order__customer")
        # The amount and the deadline are the newest ones a fact gave, whatever the order they
        # arrive in: an older fact still gives them when no newer one did.
        fields = _newest_stated(dispute, "amount", amount, at)
        fields += _newest_stated(dispute, "evidence_due_by", evidence_due_by, at)
        stale = bool(dispute.provider_updated_at and at <= dispute.provider_updated_at)
        if fee_amount is not None and (not stale or dispute.fee_amount is None):
            dispute.fee_amount = fee_amount
            dispute.fee_currency = fee_currency.upper()
            fields += ["fee_amount", "fee_currency"]
        if stale:
            if fields:
                dispute.save(update_fields=[*fields, "updated_at"])
            return dispute  # stale: its status is older than the one we have
        fields += ["provider_updated_at", "updated_at"]
        dispute.provider_updated_at = at
        moved = target != dispute.status and target in DISPUTE_TRANSITIONS[dispute.status]
        if moved:
            dispute.status = target
            fields.append("status")
            if target in FINAL:
                dispute.closed_at = at
                fields.append("closed_at")
        dispute.save(update_fields=fields)
        if moved:
            order = dispute.payment.order
            record_event(
                type=f"dispute.{target}" if target in FINAL else "dispute.updated",
                customer=order.customer,
                subject=dispute,
                actor_label=provider,
                occurred_at=at,
                data=_data(dispute, order.number),
            )
    return dispute


def _newest_stated(dispute: Dispute, field: str, value: object, at: datetime) -> list[str]:
    """Set ``field`` to ``value`` when this fact gives one and no newer fact gave it; returns
    the fields to save."""
    stated_at = getattr(dispute, f"{field}_stated_at")
    if value is None or (stated_at is not None and at <= stated_at):
        return []
    setattr(dispute, field, value)
    setattr(dispute, f"{field}_stated_at", at)
    return [field, f"{field}_stated_at"]


def _data(dispute: Dispute, order_number: str) -> dict[str, object]:
    return {
        "amount": dispute.amount,
        "currency": dispute.currency,
        "order": order_number,
        "reason": dispute.reason,
        "status": dispute.status,
        "due": dispute.evidence_due_by.isoformat() if dispute.evidence_due_by else "",
        "fee_amount": dispute.fee_amount,
        "fee_currency": dispute.fee_currency,
    }


# Kinds finance hears about at once (an e-mail), and of which one open exception per payment and
# provider object is enough: the same news redelivered, or told by two events, adds nothing.
NOTIFY_FINANCE_KINDS = frozenset(
    {
        ReconciliationException.Kind.CONTRADICTS_FINAL,
        ReconciliationException.Kind.PAID_AFTER_CANCEL,
        ReconciliationException.Kind.PAID_TWICE,
        ReconciliationException.Kind.OVER_PAYMENT,
    }
)


def reconciliation_flag(
    *,
    provider: str,
    kind: str,
    detail: str,
    payment: Payment | None = None,
    provider_object_id: str = "",
    webhook_event_id: int | None = None,
) -> ReconciliationException:
    """Put a provider fact we will not apply on finance's reconciliation list. Idempotent per
    webhook event and kind (a redelivered or replayed event adds nothing), and for the kinds in
    ``NOTIFY_FINANCE_KINDS`` per open exception of the payment and provider object. Records
    ``reconciliation.flagged`` on the payment's timeline (its subscriber tells finance of the
    ``NOTIFY_FINANCE_KINDS``)."""
    with transaction.atomic():
        if webhook_event_id is not None:
            existing = ReconciliationException.objects.filter(
                webhook_event_id=webhook_event_id, kind=kind
            ).first()
            if existing is not None:
                return existing
        if payment is not None and kind in NOTIFY_FINANCE_KINDS:
            existing = ReconciliationException.objects.filter(
                payment=payment,
                kind=kind,
                provider_object_id=provider_object_id,
                # Open, or a write-off of it awaiting approval: still being worked.
                status__in=[
                    ReconciliationException.Status.OPEN,
                    ReconciliationException.Status.AWAITING_APPROVAL,
                ],
            ).first()
            if existing is not None:
                return existing
        exception = ReconciliationException.objects.create(
            provider=provider,
            kind=kind,
            detail=detail,
            payment=payment,
            provider_object_id=provider_object_id,
            webhook_event_id=webhook_event_id,
        )
        log.warning("reconciliation.flagged", provider=provider, kind=kind, detail=detail)
        if payment is not None:
            record_event(
                type="reconciliation.flagged",
                customer=payment.order.customer,
                subject=payment,
                actor_label=provider,
                data={
                    "kind": exception.get_kind_display(),
                    "detail": detail[:200],
                    "exception": exception.pk,
                },
            )
    return exception


# A provider's word that contradicts one of our final statuses: {model: {target: {final, ...}}}.
# Anything else a state machine refuses is an older fact, superseded by what we already have.
CONTRADICTIONS: dict[type[Payment | Refund], dict[str, frozenset[str]]] = {
    Payment: {
        # Expired -> succeeded is allowed: only a success older than the expiry is refused.
        PaymentStatus.SUCCEEDED: frozenset(
            {PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}
        )
    },
    Refund: {
        RefundStatus.SUCCEEDED: frozenset({RefundStatus.REJECTED, RefundStatus.FAILED}),
        RefundStatus.PROCESSING: frozenset({RefundStatus.REJECTED}),
    },
}


def reconciliation_flag_contradiction(
    *,
    obj: Payment | Refund,
    target: str,
    provider: str,
    provider_object_id: str = "",
    webhook_event_id: int | None = None,
) -> ReconciliationException | None:
    """Flag the provider's claim that ``obj`` is now ``target`` when that contradicts the final
    status ``obj`` has (re-read here): a payment that succeeded although it failed or was
    cancelled, a refund that went through although it was rejected or had failed. Money taken
    on a cancelled order is ``paid_after_cancel`` (a refund is due), anything else
    ``contradicts_final``; finance is told of both. Returns None, and flags nothing, when the
    claim is merely older than what we have (a superseded fact)."""
    model = type(obj)
    current = model._default_manager.filter(pk=obj.pk).values_list("status", flat=True).first()
    if current not in CONTRADICTIONS[model].get(target, frozenset()):
        return None
    payment = obj if isinstance(obj, Payment) else obj.payment
    payment = Payment.objects.select_related("order__customer").get(pk=payment.pk)
    kind = ReconciliationException.Kind.CONTRADICTS_FINAL
    detail = f"{provider} says {obj} is {target}, but it is {current} here."
    if isinstance(obj, Payment) and payment.order.status == OrderStatus.CANCELLED:
        kind = ReconciliationException.Kind.PAID_AFTER_CANCEL
        detail = paid_after_cancel_detail(payment, f"{provider} says it succeeded ({current} here)")
    return reconciliation_flag(
        provider=provider,
        kind=kind,
        detail=detail,
        payment=payment,
        provider_object_id=provider_object_id,
        webhook_event_id=webhook_event_id,
    )


def paid_after_cancel_detail(payment: Payment, what: str) -> str:
    money = format_money(payment.amount, payment.currency)
    return (
        f"{payment} on cancelled order {payment.order.number}: {what}. "
        f"{money} taken after the order was cancelled: refund due."
    )
