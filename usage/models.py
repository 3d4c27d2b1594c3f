"""Product usage: the tracking plan, the usage events it accepted, the quarantine of those it did
not, and the per-customer aggregates kept incrementally as events arrive (``usage.services``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PropertyType(models.TextChoices):
    STRING = "string", "String"
    NUMBER = "number", "Number"
    INTEGER = "integer", "Integer"
    BOOLEAN = "boolean", "Boolean"
    DATETIME = "datetime", "Date and time (ISO 8601 with offset)"


class TrackedEvent(models.Model):
    """One event name of the tracking plan: what the product may send, with its properties."""

    name = models.CharField(
        max_length=64,
        unique=True,
        help_text="The event name the product sends, e.g. report_exported.",
    )
    description = models.CharField(max_length=300, blank=True)
    additional_properties = models.BooleanField(
        default=False,
        help_text="Accept properties the plan does not list (kept as sent, not type-checked).",
    )
    feature_property = models.CharField(
        max_length=64,
        blank=True,
        help_text=(
            "A string property whose value names the feature used (e.g. 'feature' for "
            "feature_used). Blank, or the property absent: the feature is the event name."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "tracking plan event"
        verbose_name_plural = "tracking plan"

    def __str__(self) -> str:
        return self.name


class TrackedProperty(models.Model):
    event = models.ForeignKey(TrackedEvent, on_delete=models.CASCADE, related_name="properties")
    name = models.CharField(max_length=64)
    type = models.CharField(max_length=10, choices=PropertyType.choices)
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["event", "name"]
        verbose_name_plural = "tracked properties"
        constraints = [
            models.UniqueConstraint(fields=["event", "name"], name="tracked_property_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.event}.{self.name} ({self.type})"


class UsageEvent(models.Model):
    """A usage event the plan accepted and the aggregates counted. Unique per (source, client
    event id): a retried batch inserts nothing the second time."""

    source = models.CharField(
        max_length=64, help_text="Who sent it: api_key:<id> or user:<id> (the idempotency scope)."
    )
    client_event_id = models.CharField(max_length=128)
    customer = models.ForeignKey(
        settings.SWITCHBOARD_CUSTOMER_MODEL, on_delete=models.PROTECT, related_name="usage_events"
    )
    event = models.CharField(max_length=64)
    feature = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()
    ingest_id = models.UUIDField(
        help_text="The ingest call that inserted the row: tells a call which rows were its own."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "client_event_id"], name="usage_event_client_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="usage_event_customer_time"),
            models.Index(fields=["ingest_id"], name="usage_event_ingest"),
        ]

    def __str__(self) -> str:
        return f"{self.event} ({self.client_event_id})"


class QuarantinedUsageEvent(models.Model):
    """A usage event the plan refused (unknown event or customer, a property of the wrong type):
    kept as sent with the reason, never dropped; released from the admin once the plan (or the
    customer) allows it."""

    class Status(models.TextChoices):
        QUARANTINED = "quarantined", "Quarantined"
        RELEASED = "released", "Released"

    source = models.CharField(max_length=64)
    client_event_id = models.CharField(max_length=128)
    event = models.CharField(max_length=64, blank=True)
    customer_ref = models.JSONField(
        default=dict, blank=True, help_text="The customer as the product identified it."
    )
    customer = models.ForeignKey(
        settings.SWITCHBOARD_CUSTOMER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="quarantined_usage_events",
        help_text="The customer, when the identity matched one.",
    )
    timestamp = models.CharField(max_length=64, blank=True, help_text="As sent.")
    properties = models.JSONField(default=dict, blank=True)
    reason = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUARANTINED)
    received_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ingest_id = models.UUIDField()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "quarantined usage event"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "client_event_id"], name="usage_quarantine_client_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="usage_quarantine_status"),
            models.Index(fields=["ingest_id"], name="usage_quarantine_ingest"),
        ]

    def __str__(self) -> str:
        return f"{self.event or '?'} ({self.client_event_id})"


# Aggregates. They point at the customer by id without a foreign key: they are derived data,
# rebuilt from UsageEvent when customers merge (``usage_aggregates_rebuild``), so a merge's
# re-pointing never collides on their (customer, day) and (customer, feature) keys.


class CustomerUsage(models.Model):
    customer_id = models.BigIntegerField(primary_key=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    events = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "customer usage"

    def __str__(self) -> str:
        return f"usage of customer {self.customer_id}"


class CustomerUsageDay(models.Model):
    """Events of one customer on one UTC day: a row means the day was active."""

    customer_id = models.BigIntegerField()
    day = models.DateField()
    events = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_id", "day"], name="usage_day_unique"),
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} on {self.day}"


class CustomerFeatureUsage(models.Model):
    customer_id = models.BigIntegerField()
    feature = models.CharField(max_length=200)
    uses = models.BigIntegerField(default=0)
    first_used_at = models.DateTimeField()
    last_used_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer_id", "feature"], name="usage_feature_unique"),
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id}: {self.feature}"
