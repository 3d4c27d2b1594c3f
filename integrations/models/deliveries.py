from __future__ import annotations

from django.db import models
from django.utils import timezone

from integrations.models.core import DomainEvent


class Delivery(models.Model):
    """One DomainEvent handed to one subscriber; written in the event's own transaction."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead (gave up)"

    event = models.ForeignKey(DomainEvent, on_delete=models.PROTECT, related_name="deliveries")
    subscriber = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="delivery_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["subscriber", "status"], name="delivery_subscriber_status"),
            # The admin list (newest id first) filtered by status or by subscriber: a page is the
            # first 50 entries of one of these, never a sort of every matching row.
            models.Index(fields=["status", "-id"], name="delivery_status_id"),
            models.Index(fields=["subscriber", "-id"], name="delivery_subscriber_id"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} <- {self.event_id}"
