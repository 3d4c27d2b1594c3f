"""Which event types a notification rule may react to: the customer-facing kinds (orders,
payments, refunds, shipments). Every registered type has a typed payload; the notifications
subscriber covers all of these, so a rule added in the admin for one of them takes effect without
a deploy, and returns at once for an event no active rule names."""

from __future__ import annotations

from integrations.events import registered_event_types

RULE_EVENT_KINDS = frozenset({"order", "payment", "refund", "shipment"})


def rule_event_types() -> frozenset[str]:
    """The names of the registered event types a rule may name."""
    return frozenset(
        name
        for name, event_type in registered_event_types().items()
        if event_type.kind in RULE_EVENT_KINDS
    )


def rule_event_type_choices() -> list[tuple[str, str]]:
    """(name, "name: label") of each type a rule may name, sorted: the admin's choices."""
    types = registered_event_types()
    return [(name, f"{name}: {types[name].label}") for name in sorted(rule_event_types())]
