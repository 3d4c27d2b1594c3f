from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError(f"{self.model.__name__} rows are append-only.")


class AppendOnlyModel(models.Model):
    """A row written once and never changed: ``save`` refuses an update, the default manager's
    ``update`` refuses too (ledgers: DomainEvent, ProviderCall, the audit log)."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise TypeError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)


class DomainEvent(AppendOnlyModel):
    """A fact that happened to a customer or an object: the timeline and the outbox.

    Append-only: written by ``integrations.events.record_event`` in the caller's transaction and
    never changed afterwards.
    """

    type = models.CharField(
        max_length=64, help_text="Registered dotted type, e.g. payment.succeeded"
    )
    kind = models.CharField(
        max_length=32, help_text="First segment of the type; the timeline filters on it."
    )
    occurred_at = models.DateTimeField(
        default=timezone.now,
        help_text="When it happened as its source says (the provider's time for provider facts); "
        "shown, never used to order the timelines.",
    )
    recorded_at = models.DateTimeField(
        default=timezone.now,
        help_text="When Switchboard wrote it: timelines are ordered by this, then id, so a "
        "follow-up never sorts before the fact that caused it.",
    )
    customer = models.ForeignKey(
        settings.SWITCHBOARD_CUSTOMER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Staff user who caused it, if any.",
    )
    actor_label = models.CharField(
        max_length=100,
        blank=True,
        help_text="Who caused it when not a staff user (system, a provider).",
    )
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_id = models.CharField(max_length=64, blank=True)
    subject_label = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The customer timeline (``customer_timeline``): newest recorded first, keyset on
            # (recorded_at, id), with and without a kind filter.
            models.Index(
                fields=["customer", "-recorded_at", "-id"], name="event_customer_recorded"
            ),
            models.Index(
                fields=["customer", "kind", "-recorded_at", "-id"],
                name="event_customer_kind_rec",
            ),
            models.Index(fields=["subject_type", "subject_id"], name="event_subject"),
            # The domain events list: its default ordering, each kind and type in it, and the
            # exact label search (an order number, a tracking code).
            models.Index(fields=["-occurred_at", "-id"], name="event_time"),
            models.Index(fields=["kind", "-occurred_at", "-id"], name="event_kind_time"),
            models.Index(fields=["type", "-occurred_at", "-id"], name="event_type_time_id"),
            models.Index(fields=["subject_label"], name="event_subject_label"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"


class TaskHeartbeat(models.Model):
    """Last time a task cluster proved it runs tasks; /health/ reads it."""

    cluster = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
