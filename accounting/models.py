"""Accounting periods, journal entries and their lines (docs/accounting.md).

The database itself keeps the journal double-entry (migration 0001's triggers, on SQLite and
PostgreSQL): an entry is written unposted, its lines are added, then it is flipped to posted;
posting is refused unless its lines balance (debits = credits) and there are at least two,
and the lines of a posted entry, and the posted entry itself, can no longer be inserted,
changed or deleted. No entry is written into, or posted in, a closed period."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from integrations.money import CURRENCY_CHOICES


class AccountingPeriod(models.Model):
    """A calendar month (UTC) of the journal: open, or closed by finance (then nothing in it
    changes, and a late fact posts to the first open period after it)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    month = models.DateField(unique=True, help_text="The first day of the month (UTC).")
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-month"]
        permissions = [("close_accountingperiod", "Can close an accounting period")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="open", closed_at__isnull=True)
                | models.Q(status="closed", closed_at__isnull=False),
                name="accounting_period_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


class JournalEntry(models.Model):
    """One money fact, posted once (unique by source kind and key), as balanced lines."""

    class SourceKind(models.TextChoices):
        CHARGE = "payment.charge", "Charge"
        FEE = "payment.fee", "Provider fee"
        SPLIT = "payment.split", "Split"
        REFUND = "refund", "Refund"
        CHARGEBACK = "dispute.chargeback", "Chargeback"
        CHARGEBACK_FEE = "dispute.fee", "Chargeback fee"
        CHARGEBACK_REVERSAL = "dispute.reversal", "Chargeback reversal"
        PAYOUT = "payout", "Payout"
        WRITE_OFF = "reconciliation.write_off", "Write-off"

    period = models.ForeignKey(AccountingPeriod, on_delete=models.PROTECT, related_name="entries")
    entry_date = models.DateTimeField(
        help_text="The date it is booked on (UTC): the fact's own time, or the start of the open "
        "period a late fact was posted to."
    )
    occurred_at = models.DateTimeField(help_text="When the money moved (UTC).")
    source_kind = models.CharField(max_length=32, choices=SourceKind.choices)
    source_key = models.CharField(
        max_length=160, help_text="The fact's id within its kind (a payment's pk, a payout id)."
    )
    provider = models.CharField(max_length=40, blank=True)
    provider_ref = models.CharField(
        max_length=160,
        blank=True,
        db_index=True,
        help_text="The provider's id of the object (pi_..., pay_..., re_..., dp_..., po_...).",
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    memo = models.CharField(max_length=300)
    late_for = models.ForeignKey(
        AccountingPeriod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="late_entries",
        help_text="The closed period the fact belongs to, when it arrived after closing.",
    )
    reverses = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversals",
        help_text="The entry this one reverses (a won dispute reverses its chargeback).",
    )
    posted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-entry_date", "-id"]
        verbose_name_plural = "journal entries"
        permissions = [("export_journal", "Can export the journal (CSV, Xero, QuickBooks)")]
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_key"], name="journal_entry_source_once"
            ),
        ]
        indexes = [
            models.Index(fields=["period", "entry_date", "id"], name="journal_entry_period"),
            models.Index(fields=["source_kind", "-entry_date"], name="journal_entry_kind"),
        ]

    def __str__(self) -> str:
        return f"Journal entry #{self.pk} ({self.get_source_kind_display()} {self.source_key})"

    def get_absolute_url(self) -> str:
        return reverse("admin:accounting_journalentry_change", args=[self.pk])

    @property
    def reference(self) -> str:
        """What the exports print beside the entry: the source, and for a late fact the closed
        period it belongs to."""
        ref = f"{self.source_kind}:{self.source_key}"
        if self.late_for_id is not None and self.late_for is not None:
            ref += f" (late for {self.late_for.label})"
        if self.reverses_id is not None:
            ref += f" (reverses #{self.reverses_id})"
        return ref


class JournalLine(models.Model):
    """One side of an entry: an account and either a debit or a credit (minor units)."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="lines")
    account_role = models.CharField(max_length=40, help_text="The chart's role (bank, revenue...).")
    account_code = models.CharField(max_length=40)
    account_name = models.CharField(max_length=150)
    debit = models.BigIntegerField(default=0, help_text="Minor units of the entry's currency.")
    credit = models.BigIntegerField(default=0, help_text="Minor units of the entry's currency.")
    memo = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(debit__gt=0, credit=0) | models.Q(debit=0, credit__gt=0),
                name="journal_line_one_positive_side",
            ),
        ]
        indexes = [models.Index(fields=["account_code", "entry"], name="journal_line_account")]

    def __str__(self) -> str:
        side = f"Dr {self.debit}" if self.debit else f"Cr {self.credit}"
        return f"{self.account_code} {side}"
