"""Staff alerts: something ops or finance must look at, told to Slack and by e-mail
(``integrations.alerts``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class StaffAlertKind(models.TextChoices):
    DELIVERY_DEAD = "delivery_dead", "Delivery gone dead"
    BREAKER_OPEN = "breaker_open", "Circuit breaker opened"
    ENDPOINT_DISABLED = "endpoint_disabled", "Delivery endpoint disabled"
    DISPUTE_OPENED = "dispute_opened", "Dispute opened"
    RECONCILIATION_EXCEPTION = "reconciliation_exception", "Reconciliation exception"


class SendStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (not retried)"
    OFF = "off", "Not sent (off or nobody to tell)"


class StaffAlert(models.Model):
    """One alert told to staff about one object (``object_key``: ``breaker:zapi``,
    ``delivery:12``). While the newest alert of a (kind, object) is younger than
    ``STAFF_ALERT_WINDOW_SECONDS``, further occurrences only count in ``repeats``; the next alert
    after the window says how many were held back (``previous_repeats``). ``current`` marks the
    newest of its (kind, object), unique, so two processes never both start a new alert."""

    kind = models.CharField(max_length=30, choices=StaffAlertKind.choices)
    role = models.CharField(max_length=20, help_text="The role told: ops or finance.")
    object_key = models.CharField(max_length=120, help_text="What the alert is about.")
    title = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="The admin page to act on.")
    current = models.BooleanField(default=True)
    raised_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    repeats = models.PositiveIntegerField(
        default=0, help_text="Occurrences held back since this alert (told in the next one)."
    )
    previous_repeats = models.PositiveIntegerField(
        default=0, help_text="Occurrences held back after the previous alert, told in this one."
    )
    slack_status = models.CharField(
        max_length=10, choices=SendStatus.choices, default=SendStatus.PENDING
    )
    slack_attempts = models.PositiveSmallIntegerField(default=0)
    slack_error = models.CharField(max_length=300, blank=True)
    slack_sent_at = models.DateTimeField(null=True, blank=True)
    email_status = models.CharField(
        max_length=10, choices=SendStatus.choices, default=SendStatus.PENDING
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_error = models.CharField(max_length=300, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a pending send is due (empty: nothing pending)."
    )
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A sender holds the alert until then."
    )

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_key"],
                condition=models.Q(current=True),
                name="staff_alert_one_current",
            )
        ]
        indexes = [
            models.Index(fields=["-raised_at", "-id"], name="staff_alert_raised"),
            models.Index(fields=["kind", "-raised_at", "-id"], name="staff_alert_kind_time"),
            models.Index(fields=["next_attempt_at"], name="staff_alert_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
