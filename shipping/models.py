from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

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
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    RETURNED = "returned", "Returned to sender"
    LOST = "lost", "Lost"
    CANCELLED = "cancelled", "Cancelled"


class TrackingStatus(models.TextChoices):
    """The one normalised tracking status every carrier's codes map to (each carrier package
    keeps its table). ``unknown`` is a code no table knows: stored, shown, flagged for ops."""

    PRE_TRANSIT = "pre_transit", "Pre-transit (label created, not posted)"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    AVAILABLE_FOR_PICKUP = "available_for_pickup", "Available for pickup"
    RETURN_TO_SENDER = "return_to_sender", "Return to sender"
    FAILURE = "failure", "Failure"
    CANCELLED = "cancelled", "Cancelled"
    DELAYED = "delayed", "Delayed"
    LOST = "lost", "Lost"
    UNKNOWN = "unknown", "Unknown carrier code"


S = ShipmentStatus
# Where a parcel can be seen next once it has left (and lost is not final: it may turn up).
_UNDER_WAY = frozenset(
    {
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
        S.DELIVERED,
        S.AVAILABLE_FOR_PICKUP,
        S.DELIVERY_FAILED,
        S.LOST,
    }
)
SHIPMENT_TRANSITIONS: Transitions = {
    S.PENDING: frozenset({S.LABEL_PURCHASED, S.CANCELLED}),
    # Carriers skip scans: the first tracking fact may already be "in transit" or "delivered".
    S.LABEL_PURCHASED: _UNDER_WAY | {S.POSTED, S.CANCELLED},
    S.POSTED: _UNDER_WAY,
    S.IN_TRANSIT: _UNDER_WAY - {S.IN_TRANSIT},
    S.OUT_FOR_DELIVERY: _UNDER_WAY - {S.OUT_FOR_DELIVERY},
    S.AVAILABLE_FOR_PICKUP: frozenset({S.DELIVERED, S.DELIVERY_FAILED, S.RETURNED, S.LOST}),
    S.DELIVERY_FAILED: frozenset(
        {S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.AVAILABLE_FOR_PICKUP, S.RETURNED}
    ),
    S.LOST: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset(),
    S.RETURNED: frozenset(),
    S.CANCELLED: frozenset(),
}
# Statuses a carrier's tracking reports; the others are set by our own actions.
TRACKING_STATUSES = frozenset(
    {
        S.POSTED,
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
        S.DELIVERED,
        S.AVAILABLE_FOR_PICKUP,
        S.DELIVERY_FAILED,
        S.RETURNED,
        S.LOST,
    }
)
T = TrackingStatus
# The shipment status a normalised tracking status moves a shipment to; None: the event is kept
# and shown but the shipment stays (pre-transit, a delay, a carrier-side cancellation, which
# ops must look at, and an unknown code).
SHIPMENT_STATUS_FOR: dict[TrackingStatus, ShipmentStatus | None] = {
    T.PRE_TRANSIT: None,
    T.IN_TRANSIT: S.IN_TRANSIT,
    T.OUT_FOR_DELIVERY: S.OUT_FOR_DELIVERY,
    T.DELIVERED: S.DELIVERED,
    T.AVAILABLE_FOR_PICKUP: S.AVAILABLE_FOR_PICKUP,
    T.RETURN_TO_SENDER: S.RETURNED,
    T.FAILURE: S.DELIVERY_FAILED,
    T.CANCELLED: None,
    T.DELAYED: None,
    T.LOST: S.LOST,
    T.UNKNOWN: None,
}
# The normalised status of a scan given as a shipment status (the sandbox's and older facts).
TRACKING_STATUS_OF: dict[str, TrackingStatus] = {
    S.POSTED: T.IN_TRANSIT,
    S.IN_TRANSIT: T.IN_TRANSIT,
    S.OUT_FOR_DELIVERY: T.OUT_FOR_DELIVERY,
    S.DELIVERED: T.DELIVERED,
    S.AVAILABLE_FOR_PICKUP: T.AVAILABLE_FOR_PICKUP,
    S.DELIVERY_FAILED: T.FAILURE,
    S.RETURNED: T.RETURN_TO_SENDER,
    S.LOST: T.LOST,
}
# Statuses ops must look at (flagged on the tracking event).
ATTENTION_TRACKING_STATUSES = frozenset({T.UNKNOWN, T.CANCELLED, T.LOST})


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
    tracking_status = models.CharField(
        max_length=20,
        choices=TrackingStatus.choices,
        blank=True,
        help_text="The normalised status of the newest tracking event.",
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
    promised_delivery_on = models.DateField(
        null=True,
        blank=True,
        help_text="The delivery date the quote promised (its business days counted from the "
        "day the shipment was created; shipping/promises.py). Past it, the shipment is flagged.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("buy_label", "Buy and void shipping labels")]
        indexes = [
            models.Index(fields=["tracking_code"], name="shipment_tracking_code"),
            models.Index(fields=["provider_shipment_id"], name="shipment_provider_id"),
            # The changelist's ordering, and each of its filters followed by it.
            models.Index(fields=["-created_at", "-id"], name="shipment_created"),
            models.Index(
                fields=["status", "-created_at", "-id"], name="shipment_status_created_id"
            ),
            models.Index(fields=["carrier", "-created_at", "-id"], name="shipment_carrier_created"),
            models.Index(
                fields=["tracking_status", "-created_at", "-id"], name="shipment_tracking_created"
            ),
            # The alert scan (shipping/alerts.py): shipments of a status by last scan, or by
            # promised date, within a window.
            models.Index(fields=["status", "last_tracking_at"], name="shipment_status_last_scan"),
            models.Index(
                fields=["status", "promised_delivery_on"], name="shipment_status_promised"
            ),
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


class TrackingEvent(models.Model):
    """One scan a carrier reported for a shipment (webhook or tracking refresh), with the
    carrier's own code and message next to the normalised status. Written once per
    (shipment, carrier code, time): a duplicated delivery adds nothing. An unknown code is kept
    with status ``unknown`` and ``needs_attention``, never dropped."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="tracking_events")
    status = models.CharField(max_length=20, choices=TrackingStatus.choices)
    carrier_code = models.CharField(max_length=60, blank=True, help_text="The carrier's code.")
    carrier_message = models.CharField(max_length=300, blank=True)
    location = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField(
        null=True, blank=True, help_text="The carrier's scan time (None when it gave none)."
    )
    recorded_at = models.DateTimeField(auto_now_add=True)
    needs_attention = models.BooleanField(
        default=False,
        help_text="Unknown carrier code, a cancellation or a loss at the carrier: ops look at it.",
    )

    class Meta:
        ordering = ["shipment", "occurred_at", "id"]
        indexes = [
            models.Index(fields=["shipment", "occurred_at"], name="tracking_event_shipment"),
            models.Index(
                fields=["needs_attention", "-recorded_at"], name="tracking_event_attention"
            ),
        ]

    def __str__(self) -> str:
        code = f" ({self.carrier_code})" if self.carrier_code else ""
        return f"{self.get_status_display()}{code}"


# Delay and exception alerts (shipping/alerts.py) ------------------------------------------------


class AlertReason(models.TextChoices):
    STALE_SCAN = "stale_scan", "No scan for days"
    PAST_PROMISED_DATE = "past_promised_date", "Past the promised delivery date"
    DELIVERY_FAILED = "delivery_failed", "Delivery failed"
    RETURNED = "returned", "Returned to sender"
    LOST = "lost", "Lost"


# Reasons that only say the parcel is late: the customer hears about the first one only.
DELAY_REASONS = frozenset({AlertReason.STALE_SCAN, AlertReason.PAST_PROMISED_DATE})
# The shipment statuses that are an exception by themselves, and the reason each is flagged for.
EXCEPTION_REASON_FOR: dict[str, AlertReason] = {
    ShipmentStatus.DELIVERY_FAILED: AlertReason.DELIVERY_FAILED,
    ShipmentStatus.RETURNED: AlertReason.RETURNED,
    ShipmentStatus.LOST: AlertReason.LOST,
}


class ShipmentAlert(models.Model):
    """A shipment flagged for ops: late (no scan for days, past its promised date) or in
    trouble (delivery failed, returned, lost). Raised by the hourly scan once per shipment and
    reason (the unique constraint), put on the timelines, and worked by ops until handled."""

    class Status(models.TextChoices):
        OPEN = "open", "Needs attention"
        HANDLED = "handled", "Handled"

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="alerts")
    reason = models.CharField(max_length=30, choices=AlertReason.choices)
    detail = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    customer_notified = models.BooleanField(
        default=False,
        help_text="Whether this alert told the customer (the first delay of a shipment and "
        "each exception do).",
    )
    raised_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    handling_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            # The ops list: open alerts newest first (its default filter), and all of them.
            models.Index(fields=["status", "-raised_at", "-id"], name="shipment_alert_status"),
            models.Index(fields=["-raised_at", "-id"], name="shipment_alert_raised"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "reason"], name="shipment_alert_once_per_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"Alert #{self.pk}: {self.get_reason_display()} on shipment #{self.shipment_id}"

    def get_absolute_url(self) -> str:
        return reverse("admin:shipping_shipmentalert_change", args=[self.pk])


class QuoteSource(models.TextChoices):
    CARRIER = "carrier", "Carrier (live quote)"
    TABLE = "table", "Table rate (cached)"


class TableRate(models.Model):
    """A carrier service's price for destinations starting with ``postal_prefix`` and parcels
    up to ``weight_up_to_grams``: what a quote answers when no carrier does in time. Each real
    quote upserts the row of its service, prefix and band (``table_rate_upsert``); staff may
    edit rows in the admin (``edited_by_staff``)."""

    carrier = models.CharField(max_length=30, help_text="Registry name: sandbox, melhor_envio.")
    service = models.CharField(max_length=60, help_text="As the carrier quotes it.")
    service_id = models.CharField(max_length=20, blank=True)
    postal_prefix = models.CharField(
        max_length=8,
        help_text="The destination postal code's first digits (the longest matching prefix wins).",
    )
    weight_up_to_grams = models.PositiveIntegerField(
        help_text="Upper bound of the weight band (SHIPPING_TABLE_RATE_WEIGHT_BANDS_GRAMS)."
    )
    amount = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    days = models.PositiveIntegerField(help_text="Promised business days to delivery.")
    updated_at = models.DateTimeField(help_text="When a real quote or staff last set it.")
    edited_by_staff = models.BooleanField(
        default=False, help_text="Set by hand in the admin; the next real quote overwrites it."
    )

    class Meta:
        ordering = ["carrier", "service", "postal_prefix", "weight_up_to_grams"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "service", "postal_prefix", "weight_up_to_grams"],
                name="table_rate_band_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="table_rate_amount_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["postal_prefix", "weight_up_to_grams"], name="table_rate_lookup"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.carrier} {self.service} to {self.postal_prefix}* "
            f"up to {self.weight_up_to_grams} g"
        )


class ShippingQuote(models.Model):
    """One shipping option offered for an order (from a carrier or the table rates); at most
    one per order is ``chosen``, and the ship workflow buys that one."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipping_quotes")
    carrier = models.CharField(max_length=30)
    service = models.CharField(max_length=60)
    service_id = models.CharField(max_length=20, blank=True)
    amount = models.BigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    days = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=QuoteSource.choices)
    chosen = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "amount", "days", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(chosen=True),
                name="shipping_quote_one_chosen_per_order",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="shipping_quote_amount_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.service} for {self.order_id}"
