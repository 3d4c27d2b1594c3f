from __future__ import annotations

from typing import Any

from rest_framework import serializers

from integrations.money import CURRENCY_CHOICES
from orders.models import Order, OrderLine
from orders.services import AMOUNT_MAX, OrderLineInput, order_totals

MAX_LINES = 200


class CustomerInputSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    name = serializers.CharField(max_length=200)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    tax_document = serializers.CharField(
        max_length=24, required=False, allow_blank=True, default=""
    )


class OrderLineInputSerializer(serializers.Serializer[Any]):
    sku = serializers.CharField(max_length=64)
    description = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    unit_amount = serializers.IntegerField(
        min_value=0, max_value=AMOUNT_MAX, help_text="Minor units."
    )
    weight_grams = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False, help_text="One unit, grams (optional)."
    )
    length_mm = serializers.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="One unit, mm (optional)."
    )
    width_mm = serializers.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="One unit, mm (optional)."
    )
    height_mm = serializers.IntegerField(
        min_value=1, max_value=10_000, required=False, help_text="One unit, mm (optional)."
    )


class OrderCreateSerializer(serializers.Serializer[Any]):
    customer = CustomerInputSerializer()
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    payment_method = serializers.ChoiceField(choices=["card", "pix", "boleto"], default="card")
    lines = OrderLineInputSerializer(many=True, allow_empty=False)
    shipping_amount = serializers.IntegerField(min_value=0, max_value=AMOUNT_MAX, default=0)
    discount_amount = serializers.IntegerField(min_value=0, max_value=AMOUNT_MAX, default=0)

    def validate_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(lines) > MAX_LINES:
            raise serializers.ValidationError(f"At most {MAX_LINES} lines per order.")
        return lines

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The totals must be storable and more than zero: an order the API places is one the
        customer pays for, and a payment of 0 cannot be created at a provider. The order rules'
        refusal (OrderNotAllowed and its subclasses) is raised as it is: the API answers it as a
        problem with its code."""
        _, total = order_totals(
            lines=[OrderLineInput(**line) for line in attrs["lines"]],
            shipping_amount=attrs["shipping_amount"],
            discount_amount=attrs["discount_amount"],
        )
        if total == 0:
            raise serializers.ValidationError(
                "The order's total is 0; the API places only orders with an amount to pay."
            )
        return attrs


class OrderLineSerializer(serializers.ModelSerializer[OrderLine]):
    class Meta:
        model = OrderLine
        fields = [
            "sku",
            "description",
            "quantity",
            "unit_amount",
            "total_amount",
            "weight_grams",
            "length_mm",
            "width_mm",
            "height_mm",
        ]


class OrderSerializer(serializers.ModelSerializer[Order]):
    customer_email = serializers.EmailField(source="customer.email", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "customer_email",
            "currency",
            "payment_method",
            "subtotal_amount",
            "shipping_amount",
            "discount_amount",
            "total_amount",
            "placed_at",
            "lines",
        ]
        read_only_fields = fields


class UsageEventSerializer(serializers.Serializer[Any]):
    customer_email = serializers.EmailField()
    name = serializers.ChoiceField(choices=["feature_used", "signed_in"])
    properties = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
    occurred_at = serializers.DateTimeField(required=False)
