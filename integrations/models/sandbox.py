from __future__ import annotations

from django.db import models
from django.utils import timezone


class SandboxWebhook(models.Model):
    """A webhook the sandbox provider owes us, written before it is sent.

    A real provider keeps its undelivered webhooks and retries them; so does the sandbox: the row
    survives a lost task queue (a Redis restart, a killed cluster) and the sweeper sends it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead (gave up)"

    endpoint = models.CharField(max_length=60, help_text="The /webhooks/<endpoint>/ slug.")
    msg_id = models.CharField(max_length=60, help_text="The webhook id; a duplicate reuses it.")
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"], name="sandbox_webhook_due")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.msg_id} ({self.status})"
