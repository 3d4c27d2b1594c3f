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


@dataclass(frozen=True, kw_only=True)
class CrmContactSyncedPayload(Payload):
    provider: str
    contact_id: str


@dataclass(frozen=True, kw_only=True)
class CrmContactUpdatedPayload(Payload):
    provider: str
    contact_id: str
    field: str
    """owner, lifecycle_stage or deal_stage (the CRM-owned properties)."""
    value: str
    previous: str


@dataclass(frozen=True, kw_only=True)
class CrmDealStageChangedPayload(Payload):
    provider: str
    deal_id: str
    stage: str


@dataclass(frozen=True, kw_only=True)
class CrmDealWonPayload(Payload):
    provider: str
    deal_id: str
    plan: str


@dataclass(frozen=True, kw_only=True)
class PlanActivatedPayload(Payload):
    plan: str
    activated_at: str
    """ISO 8601, UTC."""
    source: str
    """What activated it, e.g. "hubspot deal 123"."""


register_event_types(
    EventType(
        "crm.contact_synced",
        "CRM contact synced",
        "{provider} contact {contact_id}",
        payload=CrmContactSyncedPayload,
    ),
    EventType(
        "crm.contact_updated",
        "CRM contact updated",
        "{field}: {value} (was {previous})",
        payload=CrmContactUpdatedPayload,
    ),
    EventType(
        "crm.deal_stage_changed",
        "CRM deal stage changed",
        "{provider} deal {deal_id}: {stage}",
        payload=CrmDealStageChangedPayload,
    ),
    EventType(
        "crm.deal_won",
        "CRM deal won",
        "{provider} deal {deal_id} won: {plan}",
        payload=CrmDealWonPayload,
    ),
    EventType(
        "customer.plan_activated",
        "Plan activated",
        "Plan {plan} activated ({source})",
        payload=PlanActivatedPayload,
    ),
)


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
