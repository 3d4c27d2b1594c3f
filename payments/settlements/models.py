"""Settlement lines, payouts, import cursors and CSV column mappings (app label ``payments``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from integrations.money import CURRENCY_CHOICES


class SettlementKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"
    FEE = "fee", "Fee"
    ADJUSTMENT = "adjustment", "Adjustment"
    CHARGEBACK = "chargeback", "Chargeback"
    CHARGEBACK_REVERSAL = "chargeback_reversal", "Chargeback reversal"
    PAYOUT = "payout", "Payout"
    TRANSFER = "transfer", "Transfer"
    SPLIT = "split", "Split"
    STATEMENT = "statement", "Statement line (CSV)"
    OTHER = "other", "Other"


class SettlementLine(models.Model):
    """One movement of money as the provider (or a bank statement) reports it."""

    provider = models.CharField(
        max_length=40, help_text="stripe, asaas, or the CSV mapping's provider name."
    )
    provider_line_id = models.CharField(
        max_length=120, help_text="The provider's id of this line (txn_..., ft_..., a CSV id)."
    )
    kind = models.CharField(max_length=24, choices=SettlementKind.choices)
    provider_type = models.CharField(
        max_length=60, blank=True, help_text="The provider's own type (charge, PAYMENT_FEE...)."
    )
    amount = models.BigIntegerField(help_text="Minor units, signed: money in is positive.")
    fee = models.BigIntegerField(default=0, help_text="Minor units the provider kept.")
    net = models.BigIntegerField(help_text="Minor units: amount - fee.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    source_id = models.CharField(
        max_length=120,
        blank=True,
        db_index=True,
        help_text="The charge, payment or refund id as the provider names it (ch_..., pay_...).",
    )
    payout_id = models.CharField(
        max_length=120,
        blank=True,
        db_index=True,
        help_text="The provider's id of the payout this line was paid out in (po_..., a transfer).",
    )
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(help_text="When the provider booked it (aware UTC).")
    available_at = models.DateTimeField(
        null=True, blank=True, help_text="When the money becomes available (aware UTC)."
    )
    raw = models.JSONField(default=dict, help_text="The line as the provider sent it.")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_line_id"], name="settlement_line_once"
            ),
            models.CheckConstraint(
                condition=models.Q(net=models.F("amount") - models.F("fee")),
                name="settlement_line_net_is_amount_less_fee",
            ),
        ]
        indexes = [models.Index(fields=["provider", "created_at"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_line_id}"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_TRANSIT = "in_transit", "In transit"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class Payout(models.Model):
    """Money a provider sends to the bank account (a Stripe payout, an Asaas transfer)."""

    provider = models.CharField(max_length=40)
    provider_payout_id = models.CharField(max_length=120)
    amount = models.BigIntegerField(help_text="Minor units the bank receives.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    arrival_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=PayoutStatus.choices)
    provider_status = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(help_text="When the provider created it (aware UTC).")
    raw = models.JSONField(default=dict)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_payout_id"], name="payout_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_payout_id}"


class SettlementCursor(models.Model):
    """Where an import run is (per provider and kind), so an interrupted run continues.

    ``run_since`` is the lower bound of the run in progress and ``position`` the provider's page
    cursor inside it (Stripe: the last object id stored; Asaas: the offset); both are cleared when
    the run ends, and ``high_water`` (the newest object time seen) becomes the next run's bound."""

    provider = models.CharField(max_length=40)
    kind = models.CharField(max_length=40)
    running = models.BooleanField(default=False)
    run_since = models.DateTimeField(null=True, blank=True)
    position = models.CharField(max_length=120, blank=True)
    high_water = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "kind"], name="settlement_cursor_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind}"


class DecimalSeparator(models.TextChoices):
    DOT = ".", "Dot (1,234.56)"
    COMMA = ",", "Comma (1.234,56)"


class CsvColumnMapping(models.Model):
    """How to read one kind of CSV statement (a bank, another PSP): which column holds what."""

    name = models.CharField(max_length=80, unique=True)
    provider = models.CharField(
        max_length=40, help_text="The provider name the imported lines get (e.g. bank-itau)."
    )
    delimiter = models.CharField(max_length=1, default=",")
    date_column = models.CharField(max_length=80)
    date_format = models.CharField(
        max_length=40, default="%Y-%m-%d", help_text="strftime format, e.g. %d/%m/%Y."
    )
    amount_column = models.CharField(max_length=80)
    currency_column = models.CharField(max_length=80, blank=True)
    fixed_currency = models.CharField(
        max_length=3, blank=True, choices=CURRENCY_CHOICES, help_text="When no currency column."
    )
    reference_column = models.CharField(max_length=80, blank=True)
    line_id_column = models.CharField(
        max_length=80,
        blank=True,
        help_text="A unique id per row; without one the line id is a hash of the row.",
    )
    decimal_separator = models.CharField(
        max_length=1, choices=DecimalSeparator.choices, default=DecimalSeparator.DOT
    )

    class Meta:
        verbose_name = "CSV column mapping"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(currency_column="") | ~models.Q(fixed_currency=""),
                name="csv_mapping_has_a_currency",
                violation_error_message=(
                    "Name the currency column, or choose the fixed currency of every row."
                ),
            )
        ]

    def __str__(self) -> str:
        return self.name


# Matching (issue 15 item 3): a match groups settlement lines with the payments, refunds,
# disputes and payouts they account for. Each line and each payment, refund, dispute and payout
# is in at most one match: the unique constraints below say so, not a convention.


class MatchMethod(models.TextChoices):
    PROVIDER_ID = "provider_id", "Provider id"
    RULE = "rule", "Matching rule"
    MANUAL = "manual", "Manual"


class MatchingRule(models.Model):
    """An ordered matching rule (like Odoo's reconciliation models): lines the provider-id pass
    left unmatched are tried against the rules in ``sequence`` order; the first rule that pairs a
    line with exactly one candidate wins."""

    name = models.CharField(max_length=80, unique=True)
    sequence = models.PositiveIntegerField(default=10, help_text="Lower runs first.")
    active = models.BooleanField(default=True)
    provider = models.CharField(
        max_length=40, blank=True, help_text="Only lines of this provider; blank for any."
    )
    line_kind = models.CharField(
        max_length=24,
        blank=True,
        choices=SettlementKind.choices,
        help_text="Only lines of this kind; blank for any.",
    )
    amount_tolerance = models.BigIntegerField(
        default=0, help_text="Minor units the amounts may differ by (0: exact)."
    )
    date_window_days = models.PositiveIntegerField(
        default=3, help_text="Days between the line and the payment, either way."
    )
    reference_must_match = models.BooleanField(
        default=False,
        help_text="The line's description or source id must contain the order number.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return self.name


class SettlementMatch(models.Model):
    """One reconciliation: the items (lines, payments, refunds, disputes, payouts) that account
    for each other."""

    method = models.CharField(max_length=12, choices=MatchMethod.choices)
    rule = models.ForeignKey(
        MatchingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="matches"
    )
    matched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    anchor = models.CharField(
        max_length=60,
        blank=True,
        help_text="What the matching engine built this match around (payment:12, payout:3, "
        "line:9): how its set-based inserts find the match again to add the items. Blank for "
        "manual matches.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "settlement matches"
        constraints = [
            models.UniqueConstraint(
                fields=["anchor"],
                condition=~models.Q(anchor=""),
                name="settlement_match_anchor_once",
            )
        ]
        # The engine joins on the anchor; SQLite does not use the partial unique index for it.
        indexes = [models.Index(fields=["anchor"], name="settlement_match_anchor")]

    def __str__(self) -> str:
        return f"Match {self.pk} ({self.get_method_display()})"


_ITEM_TARGETS = ("line", "payment", "refund", "dispute", "payout")


def _exactly_one_target() -> models.Q:
    exactly_one = models.Q()
    for target in _ITEM_TARGETS:
        branch = models.Q(**{f"{target}__isnull": False})
        for other in _ITEM_TARGETS:
            if other != target:
                branch &= models.Q(**{f"{other}__isnull": True})
        exactly_one |= branch
    return exactly_one


class SettlementMatchItem(models.Model):
    """One thing in a match. Exactly one of the targets is set, and each target is in at most
    one match (unique, so matching it twice is an IntegrityError, never a silent duplicate)."""

    match = models.ForeignKey(SettlementMatch, on_delete=models.CASCADE, related_name="items")
    line = models.OneToOneField(
        SettlementLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="match_item",
    )
    payment = models.OneToOneField(
        "payments.Payment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="match_item",
    )
    refund = models.OneToOneField(
        "payments.Refund",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="match_item",
    )
    dispute = models.OneToOneField(
        "payments.Dispute",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="match_item",
    )
    payout = models.OneToOneField(
        Payout, null=True, blank=True, on_delete=models.PROTECT, related_name="match_item"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one_target(), name="settlement_match_item_one_target"
            )
        ]

    def __str__(self) -> str:
        for target in _ITEM_TARGETS:
            value = getattr(self, f"{target}_id")
            if value is not None:
                return f"{target} {value}"
        return "empty"
