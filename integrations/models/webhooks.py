from __future__ import annotations

from django.db import models
from django.utils import timezone


class WebhookEvent(models.Model):
    """One provider delivery, stored raw before anything acts on it (the inbox)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (unknown type)"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead (gave up)"

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200, help_text="The provider's id for this delivery.")
    event_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, help_text="Request headers, secrets removed.")
    body = models.TextField(help_text="The raw body as received.")
    received_at = models.DateTimeField(default=timezone.now)
    occurred_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider says it happened."
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker may (re)try it; null when finished."
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(
        max_length=32,
        blank=True,
        help_text="Which worker's batch claim holds it (unique per claim).",
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    object_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="Provider id of the object it is about (pi_..., tracking code).",
    )
    affected = models.JSONField(
        default=list,
        blank=True,
        help_text='Objects it changed: [{"model": "app.model", "pk": "1", "label": "..."}]',
    )
    last_error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)

    class Meta:
        # Newest first in arrival order: the id is given as the row is stored, so the primary
        # key serves the inbox list without an index of its own, and the list filters' indexes
        # end in the id rather than in a time (shorter keys). Every index here is written by
        # each stored delivery, on the acknowledgement's path (docs/benchmarks.md, Ingest).
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_due"),
            models.Index(fields=["object_id"], name="webhook_object"),
            # The inbox list filtered by provider, status or event type, newest first.
            models.Index(fields=["provider", "-id"], name="webhook_provider_id"),
            models.Index(fields=["status", "-id"], name="webhook_status_id"),
            models.Index(fields=["event_type", "-id"], name="webhook_type_id"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type or '?'} {self.event_id}"


class WebhookArrival(models.Model):
    """A verified delivery as the embedded profile's receiver stores it before answering 200: the
    inbox row's fields under the dedupe key alone. A WebhookEvent row writes seven B-trees (the
    table, the key and five list, search and due indexes) and, with several web workers sharing
    one SQLite file, reads each one's path back after every other worker's commit; an arrival
    writes two (docs/benchmarks.md, Ingest, fifth sitting). The drain and the sweeper move
    arrivals into the inbox in id order, each batch one transaction that advances
    WebhookArrivalMark (``inbox.webhook_arrivals_move``); a moved arrival keeps its key, so later
    deliveries of it are still answered as duplicates, and drops its body and headers. Moved
    arrivals go with the inbox's retention."""

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, help_text="Request headers, secrets removed.")
    body = models.TextField(help_text="The raw body as received; emptied once moved.")
    received_at = models.DateTimeField(default=timezone.now)
    occurred_at = models.DateTimeField(null=True, blank=True)
    object_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_arrival_unique"),
        ]

    def __str__(self) -> str:
        return f"arrival {self.pk}: {self.provider} {self.event_id}"


class WebhookArrivalMark(models.Model):
    """How far arrivals have been moved into the inbox: every arrival with an id up to
    ``moved_through`` is in WebhookEvent (or was a duplicate of a row there). One row."""

    moved_through = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"arrivals moved through {self.moved_through}"


class WebhookRejection(models.Model):
    """A sample of the deliveries refused before storage (bad or stale signature), kept for ops,
    never processed: at most WEBHOOK_REJECTION_SAMPLES_PER_HOUR per provider and hour; every
    refusal is counted in WebhookRejectionCounter."""

    provider = models.CharField(max_length=40)
    reason = models.CharField(max_length=200)
    status_code = models.PositiveSmallIntegerField()
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(
        default=dict,
        help_text="Request header names and the first characters of each value, secrets removed "
        "(capped in number and size).",
    )
    body_sha256 = models.CharField(max_length=64)
    body_size = models.PositiveIntegerField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["provider", "-received_at"], name="webhook_rejection_recent"),
            models.Index(fields=["-received_at", "-id"], name="webhook_rejection_received"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.reason}"


class WebhookRejectionCounter(models.Model):
    """Refused deliveries per provider and hour. Every refusal is counted here; only a bounded
    sample of them is kept as WebhookRejection rows, so a flood of forged deliveries cannot grow
    the database."""

    provider = models.CharField(max_length=40)
    hour = models.DateTimeField(help_text="Start of the hour counted (UTC).")
    rejected = models.PositiveBigIntegerField(default=0, help_text="Deliveries refused.")
    limited = models.PositiveBigIntegerField(
        default=0,
        help_text="Of those, refused past their source's per-minute limit: counted, not examined.",
    )
    sampled = models.PositiveIntegerField(
        default=0, help_text="Of those, kept as WebhookRejection samples."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-hour", "provider"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "hour"], name="webhook_rejection_counter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.hour:%Y-%m-%d %H:00}: {self.rejected} refused"


class WebhookDrainSlot(models.Model):
    """A place for one webhook drain task, queued or running. Storing a webhook wakes a drain only
    if it can take a free place, and there are WEBHOOK_DRAIN_CONCURRENCY places (half the task
    workers by default), so stored webhooks can never fill the task queue with drains."""

    slot = models.PositiveSmallIntegerField(primary_key=True)
    token = models.CharField(
        max_length=32, blank=True, help_text="The holding drain task's token; blank when free."
    )
    held_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="A holder that has not let go by then is presumed lost (its task dropped with "
        "the queue, or killed); the place is free again.",
    )

    class Meta:
        ordering = ["slot"]

    def __str__(self) -> str:
        return f"webhook drain slot {self.slot}: {'held' if self.token else 'free'}"
