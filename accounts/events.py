from __future__ import annotations

from dataclasses import dataclass

from integrations.events import EventType, Payload, register_event_types


@dataclass(frozen=True, kw_only=True)
class CustomerCreatedPayload(Payload):
    name: str


@dataclass(frozen=True, kw_only=True)
class CustomerUpdatedPayload(Payload):
    fields: str
    """The changed fields, comma-separated."""


@dataclass(frozen=True, kw_only=True)
class IdentifierLinkedPayload(Payload):
    system: str
    external_id: str


@dataclass(frozen=True, kw_only=True)
class CustomersMergedPayload(Payload):
    merged: str
    """The merged customers' labels, comma-separated."""
    merged_ids: list[int]
    moved: dict[str, int]
    """Rows re-pointed at the kept customer, by model (verbose plural)."""


@dataclass(frozen=True, kw_only=True)
class NoteAddedPayload(Payload):
    excerpt: str


register_event_types(
    EventType(
        "customer.created",
        "Customer created",
        "Customer {name} created",
        payload=CustomerCreatedPayload,
    ),
    EventType(
        "customer.updated", "Customer updated", "Changed {fields}", payload=CustomerUpdatedPayload
    ),
    EventType(
        "customer.identifier_linked",
        "Identifier linked",
        "{system} id {external_id}",
        payload=IdentifierLinkedPayload,
    ),
    EventType(
        "customer.merged",
        "Customers merged",
        "Merged {merged} into this customer",
        payload=CustomersMergedPayload,
    ),
    EventType("note.added", "Note", "{excerpt}", payload=NoteAddedPayload),
)
