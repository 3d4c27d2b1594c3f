"""Domain event types of product usage (the timeline's "usage" kind).

``usage.tracked`` is one accepted usage event of any name in the tracking plan. The two older
types, ``usage.feature_used`` and ``usage.signed_in``, are what the single-event endpoint wrote
before the plan existed: still registered so stored rows keep rendering, no longer written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from integrations.events import EventType, Payload, register_event_types


@dataclass(frozen=True, kw_only=True)
class UsageTrackedPayload(Payload):
    """An accepted usage event: its name, the feature it counts for, its properties as text
    (the typed values stay on the UsageEvent row)."""

    event: str
    feature: str
    client_event_id: str
    properties: dict[str, str]

    example_values: ClassVar[Mapping[str, Any]] = {
        "event": "feature_used",
        "feature": "reports",
        "properties": {"feature": "reports"},
    }

    @property
    def description(self) -> str:
        return self.event if self.feature == self.event else f"{self.event}: {self.feature}"


@dataclass(frozen=True, kw_only=True)
class UsagePayload(Payload):
    """The product's own properties of a usage fact, as its API sent them."""

    properties: dict[str, str]

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> Self:
        if "properties" not in data:  # written before payloads: the properties themselves
            data = {"properties": {k: v for k, v in data.items() if isinstance(v, str)}}
        return super().from_stored(data)


@dataclass(frozen=True, kw_only=True)
class FeatureUsedPayload(UsagePayload):
    example_values: ClassVar[Mapping[str, Any]] = {"properties": {"feature": "reports"}}

    @property
    def feature(self) -> str:
        return self.properties.get("feature", "")


@dataclass(frozen=True, kw_only=True)
class SignedInPayload(UsagePayload):
    example_values: ClassVar[Mapping[str, Any]] = {"properties": {"source": "iOS app"}}

    @property
    def source(self) -> str:
        return self.properties.get("source", "")


register_event_types(
    EventType("usage.tracked", "Product usage", "{description}", payload=UsageTrackedPayload),
    EventType("usage.feature_used", "Product usage", "Used {feature}", payload=FeatureUsedPayload),
    EventType(
        "usage.signed_in",
        "Signed in to the product",
        "Signed in from {source}",
        payload=SignedInPayload,
    ),
)
