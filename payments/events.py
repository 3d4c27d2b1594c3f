from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from integrations.events import EventType, MoneyPayload, Payload, register_event_types
from integrations.money import format_money


@dataclass(frozen=True, kw_only=True)
class PaymentPayload(MoneyPayload):
    order: str
    """The order's number."""
    provider: str
    method: str


@dataclass(frozen=True, kw_only=True)
class PaymentSucceededPayload(PaymentPayload):
    """``payment.succeeded``: the payment, plus its order's lines for the customer's receipt.
    Events recorded before the lines were added read them as []."""

    lines: list[dict[str, str | int]] = field(default_factory=list)
    """One per order line: ``sku``, ``description``, ``quantity``, ``unit_amount`` and
    ``total_amount`` (minor units of ``currency``)."""

    example_values: ClassVar[Mapping[str, Any]] = {
        "lines": [
            {
                "sku": "MUG-1",
                "description": "Coffee mug",
                "quantity": 2,
                "unit_amount": 2_500,
                "total_amount": 5_000,
            }
        ]
    }


@dataclass(frozen=True, kw_only=True)
class PaymentFailedPayload(PaymentPayload):
    reason: str
    """For staff: the provider's reason."""
    customer_reason: str
    """For the customer: a sentence fit for them, or ''."""
    retry_url: str
    """The provider's page to pay again (https), or ''."""

    example_values: ClassVar[Mapping[str, Any]] = {"retry_url": "https://pay.example.test/i/1"}


@dataclass(frozen=True, kw_only=True)
class PaymentExpiredPayload(PaymentPayload):
    reason: str
    order_action: str
    """What the subscriber does with the order: ``cancel`` or ``new_charge``."""

    example_values: ClassVar[Mapping[str, Any]] = {"order_action": "cancel"}


@dataclass(frozen=True, kw_only=True)
class PaymentReissuedPayload(PaymentPayload):
    replaces: int
    """The pk of the expired payment this charge replaces."""
    retry_url: str
    pix_code: str

    example_values: ClassVar[Mapping[str, Any]] = {"retry_url": "https://pay.example.test/i/2"}


@dataclass(frozen=True, kw_only=True)
class PaymentCheckoutPayload(PaymentPayload):
    """What the customer needs to pay a Pix or boleto charge, as the provider gave it when the
    charge was created (``payment.checkout_ready``): the customer's message carries it."""

    pix_code: str = ""
    """The Pix copy-and-paste code (EMV), or ''."""
    pix_qr_image: str = ""
    """The Pix QR code as a ``data:image/png;base64,...`` URI, or ''."""
    pix_expires_at: str = ""
    """When the Pix code expires (ISO 8601), or ''."""
    boleto_url: str = ""
    """The boleto slip (PDF, https), or ''."""
    due_date: str = ""
    """The charge's due date (ISO 8601), or ''."""
    pay_url: str = ""
    """The provider's hosted page to pay (https), or ''."""

    example_values: ClassVar[Mapping[str, Any]] = {
        "method": "pix",
        "pix_code": "00020101021226820014br.gov.bcb.pix2560example5204000053039865802BR",
        "pix_qr_image": "data:image/png;base64,iVBORw0KGgo=",
        "pix_expires_at": "2030-01-02T23:59:59",
        "boleto_url": "https://pay.example.test/b/pdf/1",
        "due_date": "2030-01-05",
        "pay_url": "https://pay.example.test/i/1",
    }


@dataclass(frozen=True, kw_only=True)
class RefundPayload(MoneyPayload):
    order: str
    """The number of the refunded payment's order."""


@dataclass(frozen=True, kw_only=True)
class RefundReasonPayload(RefundPayload):
    reason: str
    """Why it was requested, rejected or failed ('' for an approval)."""


@dataclass(frozen=True, kw_only=True)
class RefundApprovalAddedPayload(RefundPayload):
    approver: str
    approvals: int


@dataclass(frozen=True, kw_only=True)
class DisputePayload(MoneyPayload):
    order: str
    reason: str
    status: str
    due: str
    """When evidence is due (ISO 8601), or ''."""
    fee_amount: int | None = None
    """The provider's dispute fee in minor units of ``fee_currency`` (Stripe: 1500 withdrawn
    with the disputed amount), None when the provider does not say. The journal posts a lost
    dispute as ``amount`` + this fee, a won one as the reversal of both."""
    fee_currency: str = ""


@dataclass(frozen=True, kw_only=True)
class DisputeEvidencePayload(Payload):
    """``dispute.evidence_submitted``: finance's evidence went to the provider."""

    dispute: str
    """The provider's dispute id."""
    order: str
    provider: str
    documents: int
    """How many documents went with it."""


@dataclass(frozen=True, kw_only=True)
class ReconciliationFlaggedPayload(Payload):
    kind: str
    detail: str
    exception: int
    """The ReconciliationException's pk."""


@dataclass(frozen=True, kw_only=True)
class ReconciliationResolvedPayload(Payload):
    """``reconciliation.exception_resolved``: an exception closed by finance. A write-off's
    ``amount`` is what was written off to ``account`` (the journal books it); a refund due's the
    refund requested; otherwise the exception's own difference, or None when it has none."""

    exception_id: int
    kind: str
    resolution: str
    """``manual_match``, ``write_off``, ``refund_due`` or ``other``."""
    account: str
    """The write-off account's code, or ''."""
    amount: int | None
    """Minor units of ``currency``; None when the exception carries no amount."""
    currency: str
    provider: str

    example_values: ClassVar[Mapping[str, Any]] = {
        "kind": "fee_mismatch",
        "resolution": "write_off",
        "account": "6100",
        "amount": 150,
        "currency": "BRL",
        "provider": "stripe",
    }

    @property
    def money(self) -> str:
        if self.amount is None or not self.currency:
            return "no amount"
        return format_money(self.amount, self.currency)


register_event_types(
    EventType(
        "payment.created",
        "Payment started",
        "{money} by {method} via {provider}",
        payload=PaymentPayload,
    ),
    EventType(
        "payment.checkout_ready",
        "Payment ready to pay",
        "{money} by {method}: what to pay with is ready for the customer",
        payload=PaymentCheckoutPayload,
    ),
    EventType(
        "payment.processing", "Payment processing", "{money} processing", payload=PaymentPayload
    ),
    EventType(
        "payment.succeeded",
        "Payment succeeded",
        "{money} received",
        payload=PaymentSucceededPayload,
    ),
    EventType(
        "payment.failed",
        "Payment failed",
        "{money} failed: {reason}",
        payload=PaymentFailedPayload,
    ),
    EventType(
        "payment.cancelled", "Payment cancelled", "{money} cancelled", payload=PaymentPayload
    ),
    EventType(
        "payment.restored",
        "Payment restored",
        "{money} can be paid again",
        payload=PaymentPayload,
    ),
    EventType(
        "payment.expired",
        "Payment expired",
        "{money} not paid in time: {reason}",
        payload=PaymentExpiredPayload,
    ),
    EventType(
        "payment.reissued",
        "Payment reissued",
        "{money}: a new charge to pay",
        payload=PaymentReissuedPayload,
    ),
    EventType(
        "refund.approval_added",
        "Refund approval (1 of 2)",
        "{money} approved by {approver}",
        payload=RefundApprovalAddedPayload,
    ),
    EventType(
        "dispute.opened",
        "Dispute opened",
        "{money} on {order}: {reason}, evidence due {due}",
        payload=DisputePayload,
    ),
    EventType(
        "dispute.updated",
        "Dispute updated",
        "{money} on {order}: {status}",
        payload=DisputePayload,
    ),
    EventType("dispute.won", "Dispute won", "{money} on {order}", payload=DisputePayload),
    EventType("dispute.lost", "Dispute lost", "{money} on {order}", payload=DisputePayload),
    EventType("dispute.closed", "Dispute closed", "{money} on {order}", payload=DisputePayload),
    EventType(
        "dispute.evidence_submitted",
        "Dispute evidence submitted",
        "{dispute} to {provider} with {documents} documents",
        payload=DisputeEvidencePayload,
    ),
    EventType(
        "reconciliation.flagged",
        "Reconciliation exception",
        "{kind}: {detail}",
        payload=ReconciliationFlaggedPayload,
    ),
    EventType(
        "reconciliation.exception_resolved",
        "Reconciliation exception resolved",
        "{kind} resolved by {resolution} ({money})",
        payload=ReconciliationResolvedPayload,
    ),
    EventType(
        "refund.requested",
        "Refund requested",
        "{money} requested: {reason}",
        payload=RefundReasonPayload,
    ),
    EventType(
        "refund.approved", "Refund approved", "{money} approved", payload=RefundReasonPayload
    ),
    EventType(
        "refund.rejected",
        "Refund rejected",
        "{money} rejected: {reason}",
        payload=RefundReasonPayload,
    ),
    EventType(
        "refund.processing",
        "Refund processing",
        "{money} sent to the provider",
        payload=RefundPayload,
    ),
    EventType("refund.succeeded", "Refund succeeded", "{money} refunded", payload=RefundPayload),
    EventType(
        "refund.failed", "Refund failed", "{money} failed: {reason}", payload=RefundReasonPayload
    ),
)
