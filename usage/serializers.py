"""The usage API's shapes, for the OpenAPI schema. The view reads the batch itself
(``usage.api``): a DRF serializer per event costs more than the whole write at 1,000 events."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from usage.services import MAX_BATCH


class CustomerRefSerializer(serializers.Serializer[Any]):
    """Exactly one of the three."""

    email = serializers.EmailField(required=False)
    external_id = serializers.CharField(
        required=False, help_text="The customer's id in the product (identifier system 'product')."
    )
    id = serializers.IntegerField(required=False, help_text="Switchboard's customer id.")


class UsageEventInSerializer(serializers.Serializer[Any]):
    id = serializers.CharField(
        min_length=1,
        max_length=128,
        help_text="The product's own id of the event: the idempotency key.",
    )
    customer = CustomerRefSerializer()
    event = serializers.CharField(max_length=64, help_text="An event name of the tracking plan.")
    timestamp = serializers.CharField(
        help_text="ISO 8601 with a UTC offset, e.g. 2026-03-01T12:00:00-03:00."
    )
    properties = serializers.DictField(
        required=False, help_text="Scalars only, checked against the plan's property types."
    )


class UsageBatchSerializer(serializers.Serializer[Any]):
    events = serializers.ListField(
        child=UsageEventInSerializer(), min_length=1, max_length=MAX_BATCH
    )


class UsageEventResultSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "quarantined"])
    reason = serializers.CharField(required=False)


class UsageBatchResultSerializer(serializers.Serializer[Any]):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    quarantined = serializers.IntegerField()
    results = UsageEventResultSerializer(many=True)
