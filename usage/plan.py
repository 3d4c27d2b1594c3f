"""Checking one usage event, as the product sent it, against the tracking plan.

Pure functions over already-loaded data (the plan, the customers a batch names), so a batch of a
thousand events costs the same few queries as one. Nothing a sender controls raises here: every
problem becomes a reason the event is quarantined with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections

from usage.models import PropertyType, TrackedEvent, TrackedProperty

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of our clock a timestamp may be (clock skew); later ones are quarantined and
may be released once their time has come."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PROPERTIES = 100
MAX_STRING = 1000
IDENTITY_FORMS = ("email", "external_id", "id")

# ISO 8601 with a UTC offset (or Z), ASCII digits only; seconds and fractions optional.
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})",
    re.ASCII,
)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware datetime in UTC, or None when ``value`` is not ISO 8601 with an offset."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class PlanProperty:
    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class PlanEvent:
    name: str
    additional_properties: bool
    feature_property: str
    properties: dict[str, PlanProperty] = field(default_factory=dict)


DEFAULT_PLAN = {
    # name: (description, feature property, {property: type}); other properties allowed.
    "feature_used": ("A feature of the product was used.", "feature", {"feature": "string"}),
    "signed_in": ("The customer signed in to the product.", "", {"source": "string"}),
}
"""The event names the single-event endpoint took before the plan existed: an empty plan
starts with them, so the product's existing calls keep being accepted."""


def seed_empty_plan(*, using: str = "default") -> bool:
    """Put ``DEFAULT_PLAN`` in the plan when the plan is empty (run after ``migrate`` and
    ``flush``); a plan with any event is left as ops made it, and a database migrated back to
    before the plan existed is left alone. Returns whether it seeded."""
    tables = connections[using].introspection.table_names()
    if TrackedProperty._meta.db_table not in tables or TrackedEvent.objects.using(using).exists():
        return False
    for name, (description, feature_property, properties) in DEFAULT_PLAN.items():
        event = TrackedEvent.objects.using(using).create(
            name=name,
            description=description,
            feature_property=feature_property,
            additional_properties=True,
        )
        TrackedProperty.objects.using(using).bulk_create(
            TrackedProperty(event=event, name=prop, type=kind) for prop, kind in properties.items()
        )
    return True


def load_plan() -> dict[str, PlanEvent]:
    """The tracking plan by event name (two queries)."""
    return {
        tracked.name: PlanEvent(
            name=tracked.name,
            additional_properties=tracked.additional_properties,
            feature_property=tracked.feature_property,
            properties={
                p.name: PlanProperty(name=p.name, type=p.type, required=p.required)
                for p in tracked.properties.all()
            },
        )
        for tracked in TrackedEvent.objects.prefetch_related("properties")
    }


def identity_of(customer: Any) -> tuple[str, str] | str:
    """``(form, normalised value)`` of a customer reference, or the reason it is not one."""
    malformed = "customer must be an object with exactly one of email, external_id or id"
    if not isinstance(customer, Mapping):
        return malformed
    given = [key for key in IDENTITY_FORMS if customer.get(key) not in (None, "")]
    if len(given) != 1 or len(customer) != 1:
        return malformed
    form = given[0]
    value = customer[form]
    if form == "id":
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "customer id must be an integer"
        text = str(value)
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            return "customer id must be an integer"
        return form, str(int(text))
    if not isinstance(value, str) or len(value) > 254:
        return f"customer {form} must be a string of at most 254 characters"
    return form, value.strip().lower() if form == "email" else value.strip()


@dataclass(frozen=True)
class Checked:
    """An event the plan accepts."""

    customer_id: int
    event: str
    feature: str
    occurred_at: datetime
    properties: dict[str, Any]


def _type_problem(name: str, value: Any, expected: str) -> str | None:
    if expected == PropertyType.STRING:
        ok = isinstance(value, str)
    elif expected == PropertyType.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif expected == PropertyType.INTEGER:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected == PropertyType.BOOLEAN:
        ok = isinstance(value, bool)
    else:  # datetime
        ok = parse_timestamp(value) is not None
    if ok:
        return None
    return f"property {name!r} must be {expected}, got {_json_type(value)}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "array" if isinstance(value, list) else "object"


def check_event(
    raw: Mapping[str, Any],
    *,
    plan: Mapping[str, PlanEvent],
    customers: Mapping[tuple[str, str], int],
    now: datetime,
) -> Checked | list[str]:
    """The event, checked against ``plan``; or every reason it is not accepted.

    ``customers`` maps each ``(form, value)`` identity the batch named to the customer's id.
    Unknown names, unknown customers, bad timestamps, missing required properties, properties of
    the wrong type and (unless the plan allows them) unlisted properties are all reasons."""
    problems: list[str] = []
    identity = identity_of(raw.get("customer"))
    customer_id = None
    if isinstance(identity, str):
        problems.append(identity)
    else:
        customer_id = customers.get(identity)
        if customer_id is None:
            problems.append(f"unknown customer ({identity[0]} {identity[1]!r})")
    name = raw.get("event")
    planned = plan.get(name) if isinstance(name, str) else None
    if not isinstance(name, str) or not name:
        problems.append("event must be a non-empty string")
    elif planned is None:
        problems.append(f"event {name[:64]!r} is not in the tracking plan")
    occurred_at = parse_timestamp(raw.get("timestamp"))
    if occurred_at is None:
        problems.append("timestamp must be ISO 8601 with a UTC offset")
    elif occurred_at > now + FUTURE_TOLERANCE:
        problems.append("timestamp is in the future")
    elif occurred_at < EARLIEST:
        problems.append("timestamp is before 2000")
    properties = raw.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        problems.append("properties must be an object")
        properties = {}
    elif len(properties) > MAX_PROPERTIES:
        problems.append(f"more than {MAX_PROPERTIES} properties")
    for key, value in properties.items():
        if isinstance(value, list | dict):
            problems.append(f"property {key!r} must be a scalar, not {_json_type(value)}")
        elif isinstance(value, str) and len(value) > MAX_STRING:
            problems.append(f"property {key!r} is longer than {MAX_STRING} characters")
    if planned is not None:
        for prop in planned.properties.values():
            value = properties.get(prop.name)
            if value is None:
                if prop.required:
                    problems.append(f"required property {prop.name!r} is missing")
                continue
            problem = _type_problem(prop.name, value, prop.type)
            if problem:
                problems.append(problem)
        if not planned.additional_properties:
            extra = sorted(k for k in properties if k not in planned.properties)
            if extra:
                problems.append(f"properties not in the plan: {', '.join(map(repr, extra))}")
    if problems or planned is None or customer_id is None or occurred_at is None:
        return problems
    feature = planned.name
    if planned.feature_property:
        value = properties.get(planned.feature_property)
        if isinstance(value, str) and value.strip():
            feature = value.strip()[:200]
    return Checked(
        customer_id=customer_id,
        event=planned.name,
        feature=feature,
        occurred_at=occurred_at,
        properties={k: v for k, v in properties.items() if v is not None},
    )
