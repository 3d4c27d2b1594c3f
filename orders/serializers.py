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


class ShippingAddressSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, help_text="The recipient.")
    street = serializers.CharField(max_length=200)
    number = serializers.CharField(max_length=20)
    complement = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    district = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    city = serializers.CharField(max_length=100)
    state = serializers.CharField(max_length=40, help_text="UF in Brazil (SP).")
    postal_code = serializers.CharField(max_length=16, help_text="CEP in Brazil: 8 digits.")
    country = serializers.CharField(
        min_length=2, max_length=2, default="BR", help_text="ISO 3166-1 alpha-2."
    )

    def validate_country(self, value: str) -> str:
        if not value.isalpha():
            raise serializers.ValidationError("Use the two-letter ISO code, e.g. BR.")
        return value.upper()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        postal_code = "".join(ch for ch in attrs["postal_code"] if ch.isalnum())
        if attrs["country"] == "BR" and not (len(postal_code) == 8 and postal_code.isdigit()):
            raise serializers.ValidationError(
                {"postal_code": "A Brazilian CEP has 8 digits, e.g. 01310-100."}
            )
        if not postal_code:
            raise serializers.ValidationError({"postal_code": "This field may not be blank."})
        return attrs


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
    shipping_address = ShippingAddressSerializer(
        required=False, help_text="Where to ship; needed before a label can be bought."
    )

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
    shipping_address = serializers.SerializerMethodField()

    def get_shipping_address(self, order: Order) -> dict[str, str] | None:
        if not order.ship_to_postal_code:
            return None
        return {
            "name": order.ship_to_name,
            "street": order.ship_to_street,
            "number": order.ship_to_number,
            "complement": order.ship_to_complement,
            "district": order.ship_to_district,
            "city": order.ship_to_city,
            "state": order.ship_to_state,
            "postal_code": order.ship_to_postal_code,
            "country": order.ship_to_country,
        }

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
            "amount_paid",
            "paid_status",
            "placed_at",
            "lines",
            "shipping_address",
        ]
        read_only_fields = fields
