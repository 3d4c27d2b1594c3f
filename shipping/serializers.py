"""The quote API's input and answer (``shipping.api``). Amounts are integer minor units."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from integrations.money import CURRENCY_CHOICES
from shipping.models import QuoteSource, ShippingQuote

AMOUNT_MAX = 2**63 - 1
ANSWER_SOURCES = [("carriers", "carriers"), ("table", "table")]
MAX_ITEMS = 200


def _postal_code(value: str) -> str:
    code = "".join(ch for ch in value if ch.isalnum()).upper()
    if not 3 <= len(code) <= 10 or not code.isascii():
        raise serializers.ValidationError("A postal code of 3-10 letters and digits (CEP: 8).")
    return code


class QuoteLineSerializer(serializers.Serializer[Any]):
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    weight_grams = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False, help_text="One unit, grams."
    )
    length_mm = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    width_mm = serializers.IntegerField(min_value=1, max_value=10_000, required=False)
    height_mm = serializers.IntegerField(min_value=1, max_value=10_000, required=False)


class QuoteVolumeSerializer(serializers.Serializer[Any]):
    weight_grams = serializers.IntegerField(min_value=1, max_value=1_000_000)
    length_mm = serializers.IntegerField(min_value=1, max_value=10_000)
    width_mm = serializers.IntegerField(min_value=1, max_value=10_000)
    height_mm = serializers.IntegerField(min_value=1, max_value=10_000)


class QuoteRequestSerializer(serializers.Serializer[Any]):
    destination_postal_code = serializers.CharField(max_length=16)
    origin_postal_code = serializers.CharField(
        max_length=16,
        required=False,
        help_text="Default: SHIPPING_ORIGIN_POSTAL_CODE (else MELHOR_ENVIO_FROM_POSTAL_CODE).",
    )
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, default="BRL")
    declared_amount = serializers.IntegerField(
        min_value=0, max_value=AMOUNT_MAX, default=0, help_text="Minor units, for insurance."
    )
    lines = QuoteLineSerializer(
        many=True,
        required=False,
        allow_empty=False,
        help_text="Units per line, packed into volumes (docs/shipping.md). Or give volumes.",
    )
    volumes = QuoteVolumeSerializer(
        many=True, required=False, allow_empty=False, help_text="Volumes already packed."
    )
    order = serializers.CharField(
        max_length=40,
        required=False,
        help_text="An order number: the options are kept as its quotes (with ids to choose).",
    )

    def validate_destination_postal_code(self, value: str) -> str:
        return _postal_code(value)

    def validate_origin_postal_code(self, value: str) -> str:
        return _postal_code(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("lines" in attrs) == ("volumes" in attrs):
            raise serializers.ValidationError({"lines": "Give either lines or volumes."})
        parts = attrs.get("lines") or attrs.get("volumes") or []
        if len(parts) > MAX_ITEMS:
            raise serializers.ValidationError({"lines": f"At most {MAX_ITEMS}."})
        return attrs


class QuoteOptionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(
        required=False, help_text="The kept quote's id, when an order was given."
    )
    carrier = serializers.CharField()
    service = serializers.CharField()
    service_id = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    days = serializers.IntegerField(help_text="Promised business days.")
    source = serializers.ChoiceField(choices=QuoteSource.choices)  # type: ignore[assignment]
    updated_at = serializers.DateTimeField(
        allow_null=True, help_text="Table rates: when the rate was last set."
    )


class SkippedCarrierSerializer(serializers.Serializer[Any]):
    carrier = serializers.CharField()
    reason = serializers.CharField()


class QuoteAnswerSerializer(serializers.Serializer[Any]):
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=ANSWER_SOURCES,
        help_text="carriers: live quotes; table: no carrier answered in time, cached table rates.",
    )
    options = QuoteOptionSerializer(many=True)
    skipped = SkippedCarrierSerializer(many=True)
    elapsed_ms = serializers.IntegerField()


class ShippingQuoteSerializer(serializers.ModelSerializer[ShippingQuote]):
    order = serializers.CharField(source="order.number")

    class Meta:
        model = ShippingQuote
        fields = [
            "id",
            "order",
            "carrier",
            "service",
            "service_id",
            "amount",
            "currency",
            "days",
            "source",
            "chosen",
        ]
