from __future__ import annotations

from django.db import models
from django.urls import reverse

from integrations.money import CURRENCY_CHOICES
from integrations.transitions import Transitions
from orders.models import Order


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", "Pending (no label yet)"
    LABEL_PURCHASED = "label_purchased", "Label purchased"
    POSTED = "posted", "Posted"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    RETURNED = "returned", "Returned to sender"
    CANCELLED = "cancelled", "Cancelled"


S = ShipmentStatus
SHIPMENT_TRANSITIONS: Transitions = {
    S.PENDING: frozenset({S.LABEL_PURCHASED, S.CANCELLED}),
    # Carriers skip scans: the first tracking fact may already be "in transit" or "delivered".
    S.LABEL_PURCHASED: frozenset(
        {S.POSTED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELIVERY_FAILED, S.CANCELLED}
    ),
    S.POSTED: frozenset({S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELIVERY_FAILED}),
    S.IN_TRANSIT: frozenset({S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELIVERY_FAILED}),
    S.OUT_FOR_DELIVERY: frozenset({S.DELIVERED, S.DELIVERY_FAILED, S.IN_TRANSIT}),
    S.DELIVERY_FAILED: frozenset({S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset(),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
}
# Statuses a carrier's tracking reports; the others are set by our own actions.
TRACKING_STATUSES = frozenset(
    {S.POSTED, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.DELIVERY_FAILED, S.RETURNED}
)


class Shipment(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    carrier = models.CharField(
        max_length=30, help_text="Registry name: sandbox, melhor_envio, easypost."
    )
    service = models.CharField(
        max_length=60, blank=True, help_text="The carrier's service level, e.g. SEDEX, PAC."
    )
    status = models.CharField(
        max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.PENDING
    )
    tracking_code = models.CharField(max_length=60, blank=True)
    provider_shipment_id = models.CharField(
        max_length=100, blank=True, help_text="The carrier's id for the shipment."
    )
    label_url = models.URLField(max_length=500, blank=True)
    cost_amount = models.BigIntegerField(default=0, help_text="Minor units.")
    cost_currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_tracking_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last tracking update we applied happened."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tracking_code"], name="shipment_tracking_code"),
            models.Index(fields=["provider_shipment_id"], name="shipment_provider_id"),
            # The changelist's ordering, and each of its filters followed by it.
            models.Index(fields=["-created_at", "-id"], name="shipment_created"),
            models.Index(
                fields=["status", "-created_at", "-id"], name="shipment_status_created_id"
            ),
            models.Index(fields=["carrier", "-created_at", "-id"], name="shipment_carrier_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_code"],
                condition=~models.Q(tracking_code=""),
                name="shipment_carrier_tracking_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(cost_amount__gte=0), name="shipment_cost_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Shipment #{self.pk} ({self.tracking_code or self.carrier})"

    def get_absolute_url(self) -> str:
        return reverse("admin:shipping_shipment_change", args=[self.pk])
