"""Outbound webhooks for the business's own systems (``integrations.webhooks_out``): endpoints,
one message per (endpoint, domain event), and the log of every attempt to send one."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models.core import DomainEvent


class WebhookEndpoint(models.Model):
    """A URL of the business's own systems that receives the domain events it subscribes to,
    signed with the Standard Webhooks scheme. The secrets are Fernet tokens
    (``CREDENTIALS_KEYS``); only ``integrations.webhooks_out.signing`` reads them."""

    url = models.URLField(max_length=500, help_text="https://... (http only where allowed).")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text='Domain event types sent here; "*" for every type, "order.*" for a kind.',
    )
    active = models.BooleanField(default=True, help_text="Disabled endpoints are sent nothing.")
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret_ciphertext = models.TextField(editable=False)
    previous_secret_ciphertext = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Until then the previous secret also signs."
    )
    first_failure_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="First failed attempt since the last success; 5 days of that disables it.",
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "outbound webhook endpoint"

    def __str__(self) -> str:
        return self.url.split("?", 1)[0]


class WebhookMessage(models.Model):
    """One domain event (or a test message) owed to one endpoint. ``msg_id`` is the
    ``webhook-id`` header: the same on every attempt and resend, so receivers deduplicate."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Failed (retries used up)"
        SKIPPED = "skipped", "Not sent (endpoint disabled)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event = models.ForeignKey(
        DomainEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event_type = models.CharField(max_length=100)
    msg_id = models.CharField(max_length=40, unique=True)
    test_payload = models.JSONField(
        null=True, blank=True, help_text="The body of a test message (no domain event)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "outbound webhook message"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"],
                condition=Q(event__isnull=False),
                name="webhook_message_once_per_endpoint",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_message_due"),
            models.Index(fields=["claim_token"], name="webhook_message_claim"),
            models.Index(fields=["endpoint", "status", "created_at"], name="webhook_msg_endpoint"),
            models.Index(fields=["status", "-id"], name="webhook_message_status_id"),
        ]

    def __str__(self) -> str:
        return f"{self.msg_id} {self.event_type}"


class WebhookAttempt(models.Model):
    """One HTTP attempt to send a message: what the endpoint answered (status, duration, the
    start of its body) or why nothing came back. Append-only."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="log")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    attempt = models.PositiveIntegerField()
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="webhook_attempt_endpoint"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.message_id}"
