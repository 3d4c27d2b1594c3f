from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse

from integrations.money import CURRENCY_CHOICES
from integrations.transitions import Transitions
from orders.models import Order


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired (not paid in time)"


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card"
    PIX = "pix", "Pix"
    BOLETO = "boleto", "Boleto"


P = PaymentStatus
PAYMENT_TRANSITIONS: Transitions = {
    P.PENDING: frozenset({P.PROCESSING, P.SUCCEEDED, P.FAILED, P.CANCELLED, P.EXPIRED}),
    P.PROCESSING: frozenset({P.SUCCEEDED, P.FAILED, P.CANCELLED}),
    P.SUCCEEDED: frozenset(),
    P.FAILED: frozenset(),
    # To pending only through payment_restore: the provider reopened the charge it had deleted.
    P.CANCELLED: frozenset({P.PENDING}),
    # Expired is our decision (a Pix code not paid in time), not the provider's: money that
    # still arrives is applied, and a restored charge is open again.
    P.EXPIRED: frozenset({P.SUCCEEDED, P.PENDING}),
}


class Payment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=30, help_text="Registry name: sandbox, stripe, asaas.")
    provider_payment_id = models.CharField(
        max_length=100, blank=True, help_text="The provider's id (pi_..., pay_...)."
    )
    method = models.CharField(max_length=10, choices=PaymentMethod.choices)
    status = models.CharField(
        max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    amount = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount_refunded = models.BigIntegerField(default=0, help_text="Minor units refunded so far.")
    # Money facts the provider reports once the money moved (empty until known).
    fee_amount = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Minor units of settlement_currency: what the provider kept (Stripe's balance "
        "transaction fee, Asaas's value - netValue). Empty until the provider says.",
    )
    net_amount = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Minor units of settlement_currency: what reaches our balance (amount - fee).",
    )
    settlement_currency = models.CharField(
        max_length=3,
        blank=True,
        help_text="ISO 4217 of fee and net (Stripe may settle in another currency than charged).",
    )
    funds_available_at = models.DateTimeField(
        null=True, blank=True, help_text="When the net amount becomes available for payout."
    )
    amount_authorized = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Minor units the customer's bank authorised (card holds); empty until known.",
    )
    amount_captured = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Minor units actually captured out of the authorisation; empty until known.",
    )
    split = models.JSONField(
        default=list,
        blank=True,
        help_text="The order's split parts frozen when the payment started: "
        '[{"wallet_id": ..., "fixed_amount": minor units} or {"wallet_id": ..., "percent": "10.00"}].',
    )
    failure_reason = models.CharField(max_length=200, blank=True)
    provider_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Watermark: the newest provider fact applied."
    )
    provider_checked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the status backstop last asked the provider about this payment "
        "(answered or not).",
    )
    checkout = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="What the customer needs to pay: Pix QR payload/image/expiry, boleto URL and due date, invoice URL.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["provider_payment_id"], name="payment_provider_id"),
            # The changelist's ordering, and each of its filters followed by it.
            models.Index(fields=["-created_at", "-id"], name="payment_created"),
            models.Index(fields=["status", "-created_at", "-id"], name="payment_status_created_id"),
            models.Index(
                fields=["provider", "-created_at", "-id"], name="payment_provider_created"
            ),
            models.Index(fields=["method", "-created_at", "-id"], name="payment_method_created"),
            # The status backstop's queue: open payments with a provider id, least recently
            # checked first.
            models.Index(
                fields=["provider_checked_at", "created_at"],
                condition=models.Q(status__in=["pending", "processing"])
                & ~models.Q(provider_payment_id=""),
                name="payment_backstop_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_payment_id"],
                condition=~models.Q(provider_payment_id=""),
                name="payment_provider_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_refunded__gte=0)
                & models.Q(amount_refunded__lte=models.F("amount")),
                name="payment_refunded_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(fee_amount__isnull=True) | models.Q(fee_amount__gte=0),
                name="payment_fee_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_captured__isnull=True)
                | models.Q(amount_authorized__isnull=True)
                | models.Q(amount_captured__lte=models.F("amount_authorized")),
                name="payment_captured_within_authorized",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment #{self.pk} ({self.provider_payment_id or self.provider})"

    def get_absolute_url(self) -> str:
        return reverse("admin:payments_payment_change", args=[self.pk])


class OrderSplitPart(models.Model):
    """One recipient's share of an order's payments (Asaas split): a wallet and either a fixed
    amount (minor units) or a percentage (Asaas applies it to the net value). Frozen onto each
    payment of the order when it starts (``Payment.split``); an order without parts uses the
    ``ASAAS_SPLIT`` setting. Written by ``payments.services.order_split_set``, which refuses
    parts exceeding the order's total."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="split_parts")
    wallet_id = models.CharField(max_length=64, help_text="The recipient's Asaas walletId.")
    fixed_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units, in the order's currency."
    )
    percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="0 < % <= 100."
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(fixed_amount__isnull=False, fixed_amount__gt=0, percent__isnull=True)
                    | models.Q(fixed_amount__isnull=True, percent__gt=0, percent__lte=100)
                ),
                name="split_part_fixed_or_percent",
            ),
            models.UniqueConstraint(fields=["order", "wallet_id"], name="split_part_wallet_once"),
        ]

    def __str__(self) -> str:
        share = f"{self.percent}%" if self.percent is not None else str(self.fixed_amount)
        return f"{self.wallet_id}: {share}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (awaiting approval)"
    APPROVED = "approved", "Approved (queued for the provider)"
    REJECTED = "rejected", "Rejected"
    PROCESSING = "processing", "Processing at the provider"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class RefundReason(models.TextChoices):
    REQUESTED_BY_CUSTOMER = "requested_by_customer", "Requested by the customer"
    DUPLICATE = "duplicate", "Duplicate charge"
    FRAUDULENT = "fraudulent", "Fraudulent"
    NOT_RECEIVED = "not_received", "Product not received"
    DEFECTIVE = "defective", "Product defective"
    OTHER = "other", "Other"


R = RefundStatus
REFUND_TRANSITIONS: Transitions = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED}),
    R.APPROVED: frozenset({R.PROCESSING, R.SUCCEEDED, R.FAILED}),
    R.PROCESSING: frozenset({R.SUCCEEDED, R.FAILED}),
    R.FAILED: frozenset({R.PROCESSING}),
    R.REJECTED: frozenset(),
    R.SUCCEEDED: frozenset(),
}
# Refunds in these statuses hold part of the payment's refundable amount.
OPEN_REFUND_STATUSES = (R.REQUESTED, R.APPROVED, R.PROCESSING)


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField(help_text="Minor units, in the payment's currency.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    reason = models.CharField(max_length=30, choices=RefundReason.choices)
    note = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    provider_refund_id = models.CharField(max_length=100, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    provider_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Watermark: the newest provider fact applied."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    requester_notified_event_id = models.BigIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="The decision event whose e-mail to the requester went out (sent once).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_refund", "Can approve or reject refund requests")]
        indexes = [
            models.Index(fields=["provider_refund_id"], name="refund_provider_id"),
            # The queue's ordering (oldest first), and each of its filters followed by it.
            models.Index(fields=["created_at", "id"], name="refund_created"),
            models.Index(fields=["status", "created_at", "id"], name="refund_status_created_id"),
            models.Index(fields=["reason", "created_at", "id"], name="refund_reason_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Refund #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("admin:payments_refund_change", args=[self.pk])

    @property
    def idempotency_key(self) -> str:
        """Sent with the provider refund call, the same on every retry."""
        return f"refund:{self.pk}"


class RefundApproval(models.Model):
    """One finance user's approval; above REFUND_DUAL_APPROVAL_THRESHOLD two different ones."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["refund", "approver"], name="refund_approval_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.approver} approved {self.refund}"


class DisputeStatus(models.TextChoices):
    NEEDS_RESPONSE = "needs_response", "Needs response"
    UNDER_REVIEW = "under_review", "Under review"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    CLOSED = "closed", "Closed"


class Dispute(models.Model):
    """A chargeback or dispute opened by the customer's bank, mirrored from the provider."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    provider = models.CharField(max_length=30)
    provider_dispute_id = models.CharField(max_length=100)
    reason = models.CharField(max_length=60, blank=True, help_text="The provider's reason code.")
    amount = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(
        max_length=16, choices=DisputeStatus.choices, default=DisputeStatus.NEEDS_RESPONSE
    )
    evidence_due_by = models.DateTimeField(null=True, blank=True)
    provider_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Watermark: the newest provider fact applied."
    )
    amount_stated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the newest fact giving the amount happened (empty: none gave it, the "
        "payment's amount stands in).",
    )
    evidence_due_by_stated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the newest fact giving the deadline happened."
    )
    fee_amount = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The provider's dispute fee, minor units of fee_currency, as its dispute "
        "balance transactions net it (Stripe: 1500 withdrawn, given back on a win in some "
        "regions); empty when the provider does not say.",
    )
    fee_currency = models.CharField(max_length=3, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_dispute_id"], name="dispute_provider_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["provider_dispute_id"], name="dispute_provider_id"),
            models.Index(fields=["status", "evidence_due_by"], name="dispute_status_due"),
            models.Index(fields=["-opened_at", "-id"], name="dispute_opened"),
            models.Index(fields=["status", "-opened_at", "-id"], name="dispute_status_opened"),
        ]

    def __str__(self) -> str:
        return f"Dispute {self.provider_dispute_id}"

    def get_absolute_url(self) -> str:
        return reverse("admin:payments_dispute_change", args=[self.pk])


class ReconciliationException(models.Model):
    """A provider fact we refused to apply silently (amount or currency mismatch, unknown object,
    a fact contradicting a final state, money taken on a cancelled order), or what the settlement
    matching could not pair: finance works this list (``payments.reconciliation``)."""

    class Kind(models.TextChoices):
        UNMATCHED_LINE = "unmatched_line", "Settlement line without a match"
        UNMATCHED_PAYMENT = "unmatched_payment", "Payment without a settlement line"
        AMOUNT_MISMATCH = "amount_mismatch", "Amount or currency mismatch"
        FEE_MISMATCH = "fee_mismatch", "Fee mismatch"
        MISSING_PAYOUT = "missing_payout", "Missing payout"
        CHARGEBACK_FEE = "chargeback_fee", "Chargeback fee"
        UNKNOWN_OBJECT = "unknown_object", "Unknown provider object"
        CONFLICTING_FACT = "conflicting_fact", "Conflicting provider fact"
        CONTRADICTS_FINAL = "contradicts_final", "Contradicts a final status"
        PAID_AFTER_CANCEL = "paid_after_cancel", "Paid after cancel, refund due"
        PAID_TWICE = "paid_twice", "Order paid twice, refund due"
        OVER_PAYMENT = "over_payment", "Order over-paid, refund due"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        AWAITING_APPROVAL = "awaiting_approval", "Write-off awaiting approval"
        RESOLVED = "resolved", "Resolved"

    class Resolution(models.TextChoices):
        MANUAL_MATCH = "manual_match", "Manual match"
        WRITE_OFF = "write_off", "Write-off"
        REFUND_DUE = "refund_due", "Refund due"
        OTHER = "other", "Other (note)"

    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="exceptions"
    )
    settlement_line = models.ForeignKey(
        "payments.SettlementLine",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exceptions",
        help_text="The settlement line this is about, when there is one.",
    )
    provider = models.CharField(max_length=30)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    detail = models.TextField()
    amount = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The difference in minor units of currency, signed; empty when not known.",
    )
    currency = models.CharField(max_length=3, blank=True, choices=CURRENCY_CHOICES)
    provider_object_id = models.CharField(max_length=100, blank=True)
    webhook_event_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    resolution = models.CharField(max_length=20, blank=True, choices=Resolution.choices)
    write_off_account = models.CharField(
        max_length=10, blank=True, help_text="A code of settings.WRITE_OFF_ACCOUNTS."
    )
    write_off_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units of currency written off (positive)."
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(
        blank=True, help_text="Why the last write-off proposal was sent back."
    )
    match = models.ForeignKey(
        "payments.SettlementMatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exceptions",
        help_text="The manual match that resolved it (empty again if the match is undone).",
    )
    refund = models.ForeignKey(
        Refund,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="exceptions",
        help_text="The refund requested to resolve it (refund due).",
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            (
                "view_finance_dashboard",
                "Can see the finance dashboard (volume, refunds, disputes, reconciliation)",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="recon_open"),
            models.Index(fields=["-created_at", "-id"], name="recon_created"),
            models.Index(fields=["kind", "provider", "provider_object_id"], name="recon_object"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["webhook_event_id", "kind"],
                condition=models.Q(webhook_event_id__isnull=False),
                name="recon_once_per_event",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="awaiting_approval")
                | models.Q(
                    resolution="write_off",
                    proposed_by__isnull=False,
                    write_off_amount__isnull=False,
                )
                & ~models.Q(write_off_account=""),
                name="recon_awaiting_is_a_write_off",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail[:60]}"


# Settlement import (issue 15 item 2) lives in its own module; imported here so Django sees it.
# Dispute evidence (issue 15 item 8), likewise.
from payments.evidence.models import (  # noqa: E402, F401
    DisputeEvidence,
    EvidenceDocument,
    EvidenceReminder,
)
from payments.settlements.models import (  # noqa: E402, F401
    CsvColumnMapping,
    MatchingRule,
    Payout,
    SettlementCursor,
    SettlementLine,
    SettlementMatch,
    SettlementMatchItem,
)
