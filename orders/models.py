from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.models import Customer
from integrations.money import CURRENCY_CHOICES
from integrations.transitions import Transitions


class OrderStatus(models.TextChoices):
    PLACED = "placed", "Placed (awaiting payment)"
    PAID = "paid", "Paid"
    FULFILLING = "fulfilling", "Fulfilling"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


S = OrderStatus
ORDER_TRANSITIONS: Transitions = {
    S.PLACED: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.FULFILLING, S.SHIPPED, S.REFUNDED}),
    S.FULFILLING: frozenset({S.SHIPPED, S.REFUNDED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}


class PaidStatus(models.TextChoices):
    """How much of the order's total its payments have brought in (``Order.amount_paid``)."""

    UNPAID = "unpaid", "Unpaid"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    OVER_PAID = "over_paid", "Over-paid"


def paid_status_for(*, amount_paid: int, total_amount: int) -> PaidStatus:
    """The paid status of an order of ``total_amount`` that has received ``amount_paid`` (both
    minor units, net of completed refunds)."""
    if amount_paid <= 0:
        return PaidStatus.UNPAID
    if amount_paid < total_amount:
        return PaidStatus.PARTIALLY_PAID
    if amount_paid == total_amount:
        return PaidStatus.PAID
    return PaidStatus.OVER_PAID


class Order(models.Model):
    number = models.CharField(
        max_length=20, unique=True, help_text="Human order number, SB-000123."
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    payment_method = models.CharField(
        max_length=10, blank=True, help_text="How the customer chose to pay: card, pix, boleto."
    )
    subtotal_amount = models.BigIntegerField(help_text="Minor units.")
    shipping_amount = models.BigIntegerField(default=0, help_text="Minor units.")
    discount_amount = models.BigIntegerField(default=0, help_text="Minor units.")
    total_amount = models.BigIntegerField(help_text="Minor units: subtotal + shipping - discount.")
    amount_paid = models.BigIntegerField(
        default=0,
        help_text="Minor units, in the order's currency: what its succeeded payments brought in, "
        "less completed refunds.",
    )
    paid_status = models.CharField(
        max_length=15, choices=PaidStatus.choices, default=PaidStatus.UNPAID
    )
    is_flagged = models.BooleanField(
        default=False, help_text="Needs a person's look (an open dispute or chargeback)."
    )
    flag_reason = models.CharField(max_length=200, blank=True)
    # Where the order ships to (``orders.services.ShippingAddress``). Blank for orders placed
    # without one (digital goods, older orders): carriers then quote from the defaults and the
    # label purchase is refused until staff fill it in.
    ship_to_name = models.CharField("recipient", max_length=200, blank=True)
    ship_to_street = models.CharField("street", max_length=200, blank=True)
    ship_to_number = models.CharField("number", max_length=20, blank=True)
    ship_to_complement = models.CharField("complement", max_length=100, blank=True)
    ship_to_district = models.CharField("district", max_length=100, blank=True)
    ship_to_city = models.CharField("city", max_length=100, blank=True)
    ship_to_state = models.CharField(
        "state", max_length=40, blank=True, help_text="UF in Brazil (SP), state or province code."
    )
    ship_to_postal_code = models.CharField(
        "postal code", max_length=16, blank=True, help_text="CEP in Brazil, 8 digits."
    )
    ship_to_country = models.CharField(
        "country", max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code, e.g. BR."
    )
    # Where the order came from: blank for orders placed here (API, admin); a storefront's name
    # (``shopify``) for orders pulled from it, with its own id and the time of the newest
    # version of the order we applied (an older webhook changes nothing).
    source = models.CharField(
        max_length=30, blank=True, help_text="The storefront it came from, e.g. shopify."
    )
    external_id = models.CharField(
        "storefront order id", max_length=64, blank=True, help_text="The storefront's order id."
    )
    external_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="The storefront's updated_at of the version applied."
    )
    placed_at = models.DateTimeField()
    status_changed_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_placed"),
            # The changelist's default ordering (the date filter reads it too) and each of its
            # filters followed by that ordering, so a page is the first 50 entries of an index.
            models.Index(fields=["-placed_at", "-id"], name="order_placed"),
            models.Index(fields=["status", "-placed_at", "-id"], name="order_status_placed_id"),
            models.Index(fields=["currency", "-placed_at", "-id"], name="order_currency_placed"),
            models.Index(
                fields=["paid_status", "-placed_at", "-id"], name="order_paid_status_placed"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_amount__gte=0), name="order_total_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_paid__gte=0), name="order_amount_paid_not_negative"
            ),
            # One order per storefront order: a webhook delivered twice, or two of its topics
            # racing, never places a second one.
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="order_source_external_id",
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("admin:orders_order_change", args=[self.pk])

    @property
    def has_shipping_address(self) -> bool:
        return bool(self.ship_to_postal_code and self.ship_to_street and self.ship_to_city)

    @property
    def shipping_address_lines(self) -> list[str]:
        """The address as a person reads it, one line each (empty when there is none)."""
        street = " ".join(
            part for part in (self.ship_to_street, self.ship_to_number) if part
        ).strip()
        locality = ", ".join(part for part in (self.ship_to_district, self.ship_to_city) if part)
        region = " ".join(
            part for part in (self.ship_to_state, self.ship_to_postal_code) if part
        ).strip()
        lines = [
            self.ship_to_name,
            ", ".join(part for part in (street, self.ship_to_complement) if part),
            locality,
            region,
            self.ship_to_country,
        ]
        return [line for line in lines if line]


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_amount = models.BigIntegerField(help_text="Minor units, in the order's currency.")
    total_amount = models.BigIntegerField(help_text="Minor units: quantity x unit amount.")
    # Package data of one unit (integers in grams and millimetres; carriers' units are made at
    # their adapter's edge). Unknown is None: packing then uses SHIPPING_DEFAULT_ITEM_*.
    weight_grams = models.PositiveIntegerField(null=True, blank=True, help_text="One unit, grams.")
    length_mm = models.PositiveIntegerField(null=True, blank=True, help_text="One unit, mm.")
    width_mm = models.PositiveIntegerField(null=True, blank=True, help_text="One unit, mm.")
    height_mm = models.PositiveIntegerField(null=True, blank=True, help_text="One unit, mm.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


# How long an Idempotency-Key on POST /api/v1/orders/ keeps its first answer.
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


class OrderIdempotencyKey(models.Model):
    """The first answer to ``POST /api/v1/orders/`` sent with an ``Idempotency-Key`` header, per
    API client: a retry with the same key and body within ``IDEMPOTENCY_KEY_TTL`` gets this
    answer again and places no second order (``orders.api``). Pruned by a periodic job."""

    client = models.CharField(
        max_length=64, help_text="Who sent it: api_key:<id> or user:<id> (bearer or session)."
    )
    key = models.CharField(max_length=255, help_text="The Idempotency-Key header, as sent.")
    request_hash = models.CharField(
        max_length=64, help_text="SHA-256 of the request body as canonical JSON."
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField(help_text="The JSON answered, replayed as is.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="order_idempotency_client_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="order_idempotency_created")]

    def __str__(self) -> str:
        return f"{self.client} {self.key}"
