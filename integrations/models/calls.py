from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from integrations.models.core import AppendOnlyModel


class ProviderCall(AppendOnlyModel):
    """One attempt of one outbound call. Append-only; secrets and card data never reach it."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        HTTP_ERROR = "http_error", "HTTP error"
        TIMEOUT = "timeout", "Timeout"
        CONNECTION_ERROR = "connection_error", "Connection error"
        CIRCUIT_OPEN = "circuit_open", "Not sent: circuit open"

    provider = models.CharField(max_length=40)
    operation = models.CharField(max_length=60, help_text="e.g. create_payment, refund, buy_label")
    method = models.CharField(max_length=8)
    url = models.CharField(max_length=500, help_text="Without query-string secrets.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    duration_ms = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(default=1)
    idempotency_key = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The changelist's ordering, and each of its filters followed by it.
            models.Index(fields=["-created_at", "-id"], name="call_created"),
            models.Index(fields=["provider", "-created_at", "-id"], name="call_provider_created"),
            models.Index(fields=["outcome", "-created_at", "-id"], name="call_outcome_created"),
            models.Index(fields=["operation", "-created_at", "-id"], name="call_operation_created"),
            models.Index(fields=["idempotency_key"], name="call_idempotency_key"),
            models.Index(fields=["subject_type", "subject_id"], name="call_subject"),
            models.Index(fields=["subject_id"], name="call_subject_id"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}.{self.operation} #{self.attempt} {self.outcome}"


class CircuitBreaker(models.Model):
    """Shared breaker state for one provider, read and written by every web and worker process."""

    class State(models.TextChoices):
        CLOSED = "closed", "Closed (calls flow)"
        OPEN = "open", "Open (calls refused, work queued)"
        HALF_OPEN = "half_open", "Half-open (one trial call)"

    provider = models.CharField(max_length=40, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    window_started_at = models.DateTimeField(default=timezone.now)
    successes = models.PositiveIntegerField(default=0, help_text="In the current window.")
    failures = models.PositiveIntegerField(default=0, help_text="In the current window.")
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        permissions = [
            ("view_ops_page", "Can see the ops page (backlogs, breakers, call latency, queues)"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.state}"
