"""HubSpot's reactions to domain events (run as Delivery rows: an outage retries, never drops)."""

from __future__ import annotations

from accounts.crm.hubspot.workflows import (
    CONTACT_EVENT_TYPES,
    NOTE_EVENT_TYPES,
    hubspot_contact_sync_request,
    hubspot_deal_stage_apply,
    hubspot_note_add,
    hubspot_wants,
)
from integrations.deliveries.registry import Subscriber
from integrations.models import DomainEvent


def request_contact_sync(event: DomainEvent) -> None:
    """Customer data, orders or money changed -> a coalesced contact upsert is pending."""
    hubspot_contact_sync_request(event=event)


def add_note(event: DomainEvent) -> None:
    """An order, payment, refund or shipment fact -> a note on the HubSpot contact."""
    hubspot_note_add(event=event)


def apply_deal_stage(event: DomainEvent) -> None:
    """crm.deal_stage_changed -> the deal's contacts get the stage; closed-won, the plan."""
    hubspot_deal_stage_apply(event=event)


SUBSCRIBERS = [
    Subscriber(
        name="crm.hubspot.request_contact_sync",
        event_types=CONTACT_EVENT_TYPES,
        handle=request_contact_sync,
        wants=hubspot_wants,
    ),
    Subscriber(
        name="crm.hubspot.add_note",
        event_types=NOTE_EVENT_TYPES,
        handle=add_note,
        atomic=False,
        wants=hubspot_wants,
    ),
    Subscriber(
        name="crm.hubspot.apply_deal_stage",
        event_types=frozenset({"crm.deal_stage_changed"}),
        handle=apply_deal_stage,
        atomic=False,
        wants=hubspot_wants,
    ),
]
