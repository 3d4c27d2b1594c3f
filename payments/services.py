"""Payments and refunds: state changes through the allowed-transitions maps, one event each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from accounts.access.audit import audit_record
from accounts.models import User
from integrations.events import record_event
from integrations.exceptions import InvalidTransition
from integrations.models import DomainEvent
from integrations.money import format_money
from integrations.transitions import ensure_transition, lock
from orders.models import ORDER_TRANSITIONS, Order, OrderLine, OrderStatus, PaidStatus
from orders.services import order_mark_paid, order_mark_refunded, order_record_money
from payments.disputes import paid_after_cancel_detail, reconciliation_flag
from payments.exceptions import (
    ApprovalAlreadyGiven,
    PaymentNotAllowed,
    ProviderIdConflict,
    RefundExceedsPayment,
    RefundNotAllowed,
)
from payments.models import (
    PAYMENT_TRANSITIONS,
    REFUND_TRANSITIONS,
    Payment,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundApproval,
    RefundReason,
    RefundStatus,
)
from payments.refunds import (
    refund_approvals_needed,
    refund_ensure_not_own,
    refund_ensure_reauthenticated,
)
from payments.selectors import payment_refundable_amount
from payments.splits import frozen_split


def _payment_data(payment: Payment, **extra: Any) -> dict[str, Any]:
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "order": payment.order.number,
        "provider": payment.provider,
        "method": payment.method,
        **extra,
    }


def _order_lines(order_id: int) -> list[dict[str, str | int]]:
    """The order's lines as ``payment.succeeded`` carries them (the customer's receipt)."""
    return [
        {
            "sku": line.sku,
            "description": line.description,
            "quantity": line.quantity,
            "unit_amount": line.unit_amount,
            "total_amount": line.total_amount,
        }
        for line in OrderLine.objects.filter(order_id=order_id).order_by("id")
    ]


def payment_create(
    *,
    order: Order,
    provider: str,
    method: str,
    provider_payment_id: str = "",
    occurred_at: datetime | None = None,
    amount: int | None = None,
) -> Payment:
    """Start a payment of ``amount`` (default: what the order still has to receive, its total
    when nothing was paid), with the order's split parts frozen onto it. Several payments per
    order are allowed (a partial payment leaves the order placed). Raises PaymentNotAllowed for
    an order that is not placed or an amount that is not positive, SplitNotAllowed when the
    order's split parts exceed the amount."""
    with transaction.atomic():
        order = lock(order)
        if order.status != OrderStatus.PLACED:
            raise PaymentNotAllowed(
                f"{order} is {order.status}; only a placed order takes a payment."
            )
        if amount is None:
            due = order.total_amount - order.amount_paid
            amount = due if due > 0 else order.total_amount
        if amount <= 0:
            raise PaymentNotAllowed(f"A payment of {order} must be positive, not {amount}.")
        payment = Payment.objects.create(
            order=order,
            provider=provider,
            provider_payment_id=provider_payment_id,
            method=method,
            amount=amount,
            currency=order.currency,
            split=frozen_split(order, amount),
        )
        record_event(
            type="payment.created",
            customer=order.customer,
            subject=payment,
            actor_label=provider,
            occurred_at=occurred_at,
            data=_payment_data(payment),
        )
    return payment


def payment_attach_provider_id(
    *, payment: Payment, provider_payment_id: str, checkout: dict[str, Any] | None = None
) -> Payment:
    """Record the provider's id for our payment, and what the customer needs to pay it
    (``checkout``: Pix QR code, boleto slip). Idempotent; refuses to overwrite a different id
    (ProviderIdConflict)."""
    with transaction.atomic():
        payment = lock(payment)
        if checkout and checkout != payment.checkout:
            payment.checkout = checkout
            payment.save(update_fields=["checkout", "updated_at"])
        if payment.provider_payment_id == provider_payment_id:
            return payment
        if payment.provider_payment_id:
            raise ProviderIdConflict(
                f"{payment} already has provider id {payment.provider_payment_id}, "
                f"not {provider_payment_id}."
            )
        payment.provider_payment_id = provider_payment_id
        payment.save(update_fields=["provider_payment_id", "updated_at"])
    return payment


def _checkout_data(checkout: dict[str, Any]) -> dict[str, str]:
    def https(name: str) -> str:
        url = str(checkout.get(name) or "")
        return url if url.startswith("https://") else ""

    image = str(checkout.get("pix_encoded_image") or "")
    if image and not image.startswith("data:"):
        image = f"data:image/png;base64,{image}"
    return {
        "pix_code": str(checkout.get("pix_payload") or ""),
        "pix_qr_image": image,
        "pix_expires_at": str(checkout.get("pix_expires_at") or ""),
        "boleto_url": https("bank_slip_url"),
        "due_date": str(checkout.get("due_date") or ""),
        "pay_url": https("invoice_url"),
    }


def payment_announce_checkout(*, payment: Payment) -> Payment:
    """Record ``payment.checkout_ready`` once per payment: its charge exists at the provider and
    its checkout has something the customer pays with (a Pix code, a boleto slip), which the
    customer's message carries. Nothing for a payment without one (a card; a provider that
    gives none) or no longer open, nor for a charge replacing an expired one of its order
    (``payment.reissued`` tells the customer of that one). Idempotent."""
    with transaction.atomic():
        payment = lock(payment, "order__customer")
        data = _checkout_data(payment.checkout or {})
        if not (data["pix_code"] or data["boleto_url"]):
            return payment
        if payment.status not in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
            return payment
        replacing = (
            Payment.objects.filter(order_id=payment.order_id, status=PaymentStatus.EXPIRED)
            .exclude(pk=payment.pk)
            .exists()
        )
        if replacing:
            return payment
        announced = DomainEvent.objects.filter(
            type="payment.checkout_ready",
            subject_type=ContentType.objects.get_for_model(Payment),
            subject_id=str(payment.pk),
        ).exists()
        if not announced:
            record_event(
                type="payment.checkout_ready",
                customer=payment.order.customer,
                subject=payment,
                actor_label=payment.provider,
                data=_payment_data(payment, **data),
            )
    return payment


def payment_retry_url(payment: Payment) -> str:
    """Where the customer can pay this charge again, when the provider gives such a page (Asaas:
    the charge's hosted invoice, kept in ``checkout`` from the provider's own answer); only an
    https URL, else ''."""
    url = str((payment.checkout or {}).get("invoice_url") or "")
    return url if url.startswith("https://") else ""


def _payment_transition(
    *,
    payment: Payment,
    target: PaymentStatus,
    occurred_at: datetime | None,
    update_fields: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    event_type: str = "",
) -> Payment:
    with transaction.atomic():
        payment = lock(payment, "order__customer")
        watermark = payment.provider_updated_at
        if occurred_at is not None and watermark is not None and occurred_at < watermark:
            # A late fact: the provider already told us something newer. Refused like any other
            # transition the payment cannot take, so it never moves backwards.
            raise InvalidTransition(entity=str(payment), current=payment.status, target=target)
        ensure_transition(
            entity=str(payment), current=payment.status, target=target, allowed=PAYMENT_TRANSITIONS
        )
        payment.status = target
        fields = {**(update_fields or {})}
        if occurred_at is not None:
            fields["provider_updated_at"] = occurred_at
        for field, value in fields.items():
            setattr(payment, field, value)
        payment.save(update_fields=["status", "updated_at", *fields])
        record_event(
            type=event_type or f"payment.{target}",
            customer=payment.order.customer,
            subject=payment,
            actor_label=payment.provider,
            occurred_at=occurred_at,
            data=_payment_data(payment, **(data or {})),
        )
    return payment


def payment_restore(*, payment: Payment, occurred_at: datetime | None = None) -> Payment:
    """The provider reopened a charge it had deleted (Asaas ``PAYMENT_RESTORED``): a cancelled
    payment is pending again (``payment.restored``), so a later payment of it is applied like
    any other (the order becomes paid, or a cancelled order's payment is flagged paid after
    cancel). On a payment still open only the watermark moves: the restore is newer than the
    deletion it undoes, which, arriving late, is then refused. Raises InvalidTransition for a
    payment that ended otherwise (succeeded, failed) or a fact older than the watermark."""
    with transaction.atomic():
        current = lock(payment)
        if current.status in (PaymentStatus.PENDING, PaymentStatus.PROCESSING):
            watermark = current.provider_updated_at
            if occurred_at is not None and (watermark is None or occurred_at > watermark):
                current.provider_updated_at = occurred_at
                current.save(update_fields=["provider_updated_at", "updated_at"])
            return current
        return _payment_transition(
            payment=current,
            target=PaymentStatus.PENDING,
            occurred_at=occurred_at,
            update_fields={"failure_reason": ""},
            event_type="payment.restored",
        )


def payment_mark_processing(*, payment: Payment, occurred_at: datetime | None = None) -> Payment:
    return _payment_transition(
        payment=payment, target=PaymentStatus.PROCESSING, occurred_at=occurred_at
    )


def payment_mark_succeeded(*, payment: Payment, occurred_at: datetime | None = None) -> Payment:
    """The money is ours: the payment succeeds, its amount is added to the order's
    ``amount_paid`` (``order_record_money``, under the order's lock) and a placed order whose
    payments now cover its total becomes paid, atomically; one only partly covered stays placed
    (partially paid). An order paid beyond its total goes on the reconciliation list as
    over-payment, refund due.

    On a cancelled order the payment still succeeds (the money was taken) but the order stays
    cancelled, and the payment goes on the reconciliation list as paid after cancel, refund due
    (finance is told); on an order another payment already paid (an expired charge paid after
    all, besides its replacement), as paid twice, refund due. The order row is locked, so a
    cancellation committing meanwhile is seen, never overwritten."""
    with transaction.atomic():
        payment = _payment_transition(
            payment=payment,
            target=PaymentStatus.SUCCEEDED,
            occurred_at=occurred_at,
            update_fields={"succeeded_at": occurred_at or timezone.now()},
            data={"lines": _order_lines(payment.order_id)},
        )
        order, _ = order_record_money(
            order=payment.order, received=payment.amount, currency=payment.currency
        )
        payment.order = order
        flagged = False
        if order.status == OrderStatus.PLACED:
            if order.paid_status in (PaidStatus.PAID, PaidStatus.OVER_PAID):
                order_mark_paid(order=order, occurred_at=occurred_at)
        elif order.status == OrderStatus.CANCELLED:
            flagged = True
            reconciliation_flag(
                provider=payment.provider,
                kind=ReconciliationException.Kind.PAID_AFTER_CANCEL,
                detail=paid_after_cancel_detail(payment, "the payment succeeded"),
                payment=payment,
                provider_object_id=payment.provider_payment_id,
            )
        else:
            other = (
                Payment.objects.filter(order=order, status=PaymentStatus.SUCCEEDED)
                .exclude(pk=payment.pk)
                .first()
            )
            if other is not None:
                flagged = True
                money = format_money(payment.amount, payment.currency)
                reconciliation_flag(
                    provider=payment.provider,
                    kind=ReconciliationException.Kind.PAID_TWICE,
                    detail=(
                        f"{payment} succeeded on order {order.number}, already paid by {other}: "
                        f"{money} taken twice, refund due."
                    ),
                    payment=payment,
                    provider_object_id=payment.provider_payment_id,
                )
        if order.paid_status == PaidStatus.OVER_PAID and not flagged:
            over = format_money(order.amount_paid - order.total_amount, order.currency)
            reconciliation_flag(
                provider=payment.provider,
                kind=ReconciliationException.Kind.OVER_PAYMENT,
                detail=(
                    f"{payment} brought order {order.number} to "
                    f"{format_money(order.amount_paid, order.currency)} paid of "
                    f"{format_money(order.total_amount, order.currency)}: {over} over-paid, "
                    "refund due."
                ),
                payment=payment,
                provider_object_id=payment.provider_payment_id,
            )
    return payment


def payment_mark_expired(
    *, payment: Payment, reason: str, order_action: str, occurred_at: datetime | None = None
) -> Payment:
    """pending -> expired: the customer did not pay in time (a Pix code past its due date). The
    ``payment.expired`` event carries ``order_action`` (``cancel`` or ``new_charge``), what its
    subscriber does with the order, so the customer's message and the reaction agree. Money
    that still arrives is applied (expired -> succeeded). Raises InvalidTransition from any other
    status or for a fact older than the watermark."""
    return _payment_transition(
        payment=payment,
        target=PaymentStatus.EXPIRED,
        occurred_at=occurred_at,
        update_fields={"failure_reason": reason[:200]},
        data={"reason": reason, "order_action": order_action},
    )


def payment_announce_reissued(*, payment: Payment, replaces: Payment) -> Payment:
    """Record ``payment.reissued``: ``payment`` is the new charge for the order of ``replaces``
    (which expired), with what the customer needs to pay it (the provider's page, the Pix
    copy-and-paste code), for the customer's message. Idempotent: once per payment."""
    with transaction.atomic():
        payment = lock(payment, "order__customer")
        announced = DomainEvent.objects.filter(
            type="payment.reissued",
            subject_type=ContentType.objects.get_for_model(Payment),
            subject_id=str(payment.pk),
        ).exists()
        if not announced:
            checkout = payment.checkout or {}
            record_event(
                type="payment.reissued",
                customer=payment.order.customer,
                subject=payment,
                actor_label=payment.provider,
                data=_payment_data(
                    payment,
                    replaces=replaces.pk,
                    retry_url=payment_retry_url(payment),
                    pix_code=str(checkout.get("pix_payload") or ""),
                ),
            )
    return payment


def payment_mark_failed(
    *,
    payment: Payment,
    reason: str,
    occurred_at: datetime | None = None,
    customer_reason: str = "",
) -> Payment:
    """pending or processing -> failed, keeping ``reason`` (for staff: the order admin shows it).
    The ``payment.failed`` event carries what the customer is told: ``customer_reason`` (a
    sentence fit for them, or '') and the provider's page to pay again (``payment_retry_url``).
    Raises InvalidTransition from any other status or for a fact older than the watermark."""
    return _payment_transition(
        payment=payment,
        target=PaymentStatus.FAILED,
        occurred_at=occurred_at,
        update_fields={"failure_reason": reason[:200]},
        data={
            "reason": reason,
            "customer_reason": customer_reason,
            "retry_url": payment_retry_url(payment),
        },
    )


def payment_cancel(*, payment: Payment, occurred_at: datetime | None = None) -> Payment:
    return _payment_transition(
        payment=payment, target=PaymentStatus.CANCELLED, occurred_at=occurred_at
    )


def _refund_data(refund: Refund, **extra: Any) -> dict[str, Any]:
    return {
        "amount": refund.amount,
        "currency": refund.currency,
        "order": refund.payment.order.number,
        **extra,
    }


def refund_request(
    *,
    payment: Payment,
    requested_by: User,
    reason: str,
    amount: int | None = None,
    note: str = "",
) -> Refund:
    """Ask for a refund of ``amount`` (default: everything still refundable).

    Raises RefundNotAllowed when the payment has not succeeded, and RefundExceedsPayment when the
    amount is not positive or exceeds what is still refundable (refunds already open count
    against it)."""
    if reason not in RefundReason.values:
        raise RefundNotAllowed(f"Unknown refund reason {reason!r}.")
    with transaction.atomic():
        payment = lock(payment)
        if payment.status != PaymentStatus.SUCCEEDED:
            raise RefundNotAllowed(f"{payment} has not succeeded; there is nothing to refund.")
        refundable = payment_refundable_amount(payment=payment)
        amount = refundable if amount is None else amount
        if amount <= 0 or amount > refundable:
            raise RefundExceedsPayment(
                f"A refund must be between {format_money(1, payment.currency)} and "
                f"{format_money(refundable, payment.currency)}; "
                f"{format_money(amount, payment.currency)} asked."
            )
        refund = Refund.objects.create(
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason=reason,
            note=note.strip(),
            requested_by=requested_by,
        )
        record_event(
            type="refund.requested",
            customer=payment.order.customer,
            subject=refund,
            actor=requested_by,
            data=_refund_data(refund, reason=refund.get_reason_display()),
        )
        audit_record(
            action="refund_requested",
            actor=requested_by,
            obj=refund,
            changes={"amount": [None, refund.amount], "reason": [None, refund.reason]},
            summary=refund.note,
        )
    return refund


def _refund_decide(
    *, refund: Refund, decider: User, target: RefundStatus, rejection_reason: str = ""
) -> Refund:
    with transaction.atomic():
        refund = lock(refund, "payment__order__customer")
        _ensure_decidable(refund=refund, decider=decider, target=target)
        _refund_move_decided(
            refund=refund, decider=decider, target=target, rejection_reason=rejection_reason
        )
    return refund


def _ensure_decidable(*, refund: Refund, decider: User, target: RefundStatus) -> None:
    refund_ensure_not_own(refund=refund, decider=decider)
    ensure_transition(
        entity=str(refund), current=refund.status, target=target, allowed=REFUND_TRANSITIONS
    )


def _refund_move_decided(
    *, refund: Refund, decider: User, target: RefundStatus, rejection_reason: str = ""
) -> None:
    previous = refund.status
    refund.status = target
    refund.decided_by = decider
    refund.decided_at = timezone.now()
    refund.rejection_reason = rejection_reason
    refund.save(
        update_fields=["status", "decided_by", "decided_at", "rejection_reason", "updated_at"]
    )
    record_event(
        type=f"refund.{target}",
        customer=refund.payment.order.customer,
        subject=refund,
        actor=decider,
        data=_refund_data(refund, reason=rejection_reason),
    )
    audit_record(
        action=f"refund_{target}",
        actor=decider,
        obj=refund,
        changes={"status": [previous, target]},
        summary=rejection_reason,
    )


def refund_approve(
    *, refund: Refund, approver: User, reauthenticated_at: datetime | None = None
) -> Refund:
    """Record ``approver``'s approval; the refund moves requested -> approved once it has enough
    (``refund_approvals_needed``: one, or two different users above the dual-approval threshold).
    A first of two approvals records ``refund.approval_added`` and leaves the refund requested.
    Above the threshold every approval needs ``reauthenticated_at``, when the approver last
    proved who they are (a password or SSO login; the admin passes its session's
    ``reauth_stamp``), within ``SENSITIVE_ACTION_REAUTH_SECONDS``.

    The refund row is locked while deciding, so approvals clicked at once give one transition
    (and one ``refund.approved``, hence one provider refund). Raises SelfApprovalForbidden for
    the requester, ApprovalAlreadyGiven for the same approver twice, InvalidTransition when it
    was already decided and ReauthenticationRequired without a fresh re-authentication where
    one is needed; nothing is written then. Executing it at the provider comes after, through
    the ``refund.approved`` subscriber."""
    with transaction.atomic():
        refund = lock(refund, "payment__order__customer")
        _ensure_decidable(refund=refund, decider=approver, target=RefundStatus.APPROVED)
        if RefundApproval.objects.filter(refund=refund, approver=approver).exists():
            raise ApprovalAlreadyGiven(
                f"You already approved {refund}; a second approval must come from another "
                "finance user."
            )
        refund_ensure_reauthenticated(refund=refund, reauthenticated_at=reauthenticated_at)
        RefundApproval.objects.create(refund=refund, approver=approver)
        given = RefundApproval.objects.filter(refund=refund).count()
        if given < refund_approvals_needed(refund=refund):
            record_event(
                type="refund.approval_added",
                customer=refund.payment.order.customer,
                subject=refund,
                actor=approver,
                data=_refund_data(
                    refund,
                    approver=approver.get_full_name() or approver.get_username(),
                    approvals=given,
                ),
            )
            refund.save(update_fields=["updated_at"])
            audit_record(action="refund_approval_added", actor=approver, obj=refund)
            return refund
        _refund_move_decided(refund=refund, decider=approver, target=RefundStatus.APPROVED)
    return refund


def refund_reject(*, refund: Refund, approver: User, reason: str) -> Refund:
    """requested -> rejected, with a required reason."""
    if not reason.strip():
        raise RefundNotAllowed("Rejecting a refund needs a reason.")
    return _refund_decide(
        refund=refund,
        decider=approver,
        target=RefundStatus.REJECTED,
        rejection_reason=reason.strip(),
    )


def _refund_ensure_transition(
    *, refund: Refund, target: RefundStatus, occurred_at: datetime | None
) -> list[str]:
    """Raise InvalidTransition unless the locked ``refund`` may move to ``target`` now: the map
    allows it and a provider fact (``occurred_at``) is not older than the watermark, the newest
    provider fact applied. Moves the watermark on the instance; returns the fields to save."""
    watermark = refund.provider_updated_at
    if occurred_at is not None and watermark is not None and occurred_at < watermark:
        # A late fact: the provider already told us something newer about this refund.
        raise InvalidTransition(entity=str(refund), current=refund.status, target=target)
    ensure_transition(
        entity=str(refund), current=refund.status, target=target, allowed=REFUND_TRANSITIONS
    )
    if occurred_at is None:
        return []
    refund.provider_updated_at = occurred_at
    return ["provider_updated_at"]


def refund_mark_processing(
    *, refund: Refund, provider_refund_id: str = "", occurred_at: datetime | None = None
) -> Refund:
    with transaction.atomic():
        refund = lock(refund, "payment__order__customer")
        watermark = _refund_ensure_transition(
            refund=refund, target=RefundStatus.PROCESSING, occurred_at=occurred_at
        )
        refund.status = RefundStatus.PROCESSING
        refund.provider_refund_id = provider_refund_id or refund.provider_refund_id
        refund.save(update_fields=["status", "provider_refund_id", "updated_at", *watermark])
        record_event(
            type="refund.processing",
            customer=refund.payment.order.customer,
            subject=refund,
            actor_label=refund.payment.provider,
            occurred_at=occurred_at,
            data=_refund_data(refund),
        )
    return refund


def refund_mark_succeeded(
    *, refund: Refund, provider_refund_id: str = "", occurred_at: datetime | None = None
) -> Refund:
    """The provider returned the money: the payment's refunded total grows, and an order whose
    payment is now fully refunded becomes refunded. All in one transaction."""
    with transaction.atomic():
        refund = lock(refund, "payment__order__customer")
        watermark = _refund_ensure_transition(
            refund=refund, target=RefundStatus.SUCCEEDED, occurred_at=occurred_at
        )
        payment = lock(refund.payment, "order__customer")
        refund.status = RefundStatus.SUCCEEDED
        refund.provider_refund_id = provider_refund_id or refund.provider_refund_id
        refund.completed_at = occurred_at or timezone.now()
        refund.save(
            update_fields=["status", "provider_refund_id", "completed_at", "updated_at", *watermark]
        )
        payment.amount_refunded += refund.amount
        payment.save(update_fields=["amount_refunded", "updated_at"])
        payment.order, _ = order_record_money(
            order=payment.order, returned=refund.amount, currency=refund.currency
        )
        record_event(
            type="refund.succeeded",
            customer=payment.order.customer,
            subject=refund,
            actor_label=payment.provider,
            occurred_at=occurred_at,
            data=_refund_data(refund),
        )
        # A cancelled order whose payment still went through (paid after cancel) stays
        # cancelled once that money is returned.
        if (
            payment.amount_refunded == payment.amount
            and OrderStatus.REFUNDED in ORDER_TRANSITIONS[payment.order.status]
        ):
            order_mark_refunded(order=payment.order, occurred_at=occurred_at)
    return refund


def refund_mark_failed(
    *, refund: Refund, reason: str, occurred_at: datetime | None = None
) -> Refund:
    with transaction.atomic():
        refund = lock(refund, "payment__order__customer")
        watermark = _refund_ensure_transition(
            refund=refund, target=RefundStatus.FAILED, occurred_at=occurred_at
        )
        refund.status = RefundStatus.FAILED
        refund.failure_reason = reason[:200]
        refund.save(update_fields=["status", "failure_reason", "updated_at", *watermark])
        record_event(
            type="refund.failed",
            customer=refund.payment.order.customer,
            subject=refund,
            actor_label=refund.payment.provider,
            occurred_at=occurred_at,
            data=_refund_data(refund, reason=reason),
        )
    return refund
