"""What a CRM adapter takes and returns (``CrmSync``), and who owns which contact property.

Ownership (docs/crm.md): the CRM owns the owner, the lifecycle stage and the deal stage;
Switchboard owns the contact data it keeps (name, e-mail, phone) and money and orders
(lifetime value, orders count). Outbound upserts carry only Switchboard-owned properties;
inbound changes apply only to CRM-owned ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from accounts.models import Customer

CRM_OWNED_FIELDS = ("owner", "lifecycle_stage", "deal_stage")
"""The CrmRecord fields only the CRM writes."""

SWITCHBOARD_OWNED_PROPERTIES = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "phone",
        "switchboard_customer_id",
        "switchboard_lifetime_value",
        "switchboard_lifetime_value_currency",
        "switchboard_orders_count",
    }
)
"""Contact properties Switchboard writes; an inbound change to one is ignored and logged."""


@dataclass(frozen=True)
class ContactInput:
    """One contact to upsert, by e-mail."""

    customer_id: int
    email: str
    properties: Mapping[str, str]


@dataclass(frozen=True)
class ContactResult:
    email: str
    contact_id: str


@dataclass(frozen=True)
class CrmChangeFact:
    """A CRM-owned property of a contact changed in the CRM, at ``occurred_at`` (the CRM's time)."""

    provider: str
    contact_id: str
    field: str
    """One of CRM_OWNED_FIELDS."""
    value: str
    occurred_at: datetime


@dataclass(frozen=True)
class DealInfo:
    deal_id: str
    stage: str
    plan: str
    contact_ids: Sequence[str] = field(default_factory=tuple)


class CrmSync(Protocol):
    name: str

    def upsert_contacts(self, contacts: Sequence[ContactInput]) -> list[ContactResult]:
        """Create or update the contacts (at most the provider's batch size)."""

    def add_note(self, *, contact_id: str, body: str, at: datetime, key: str) -> str:
        """Add a note on the contact's timeline; returns the note's id."""


ContactProperties = Callable[[Customer], Mapping[str, str]]
_PROPERTY_PARTS: dict[str, ContactProperties] = {}


def register_crm_contact_properties(name: str, part: ContactProperties) -> None:
    """Add (or replace) a source of Switchboard-owned contact properties (orders adds lifetime
    value and orders count); called from ``AppConfig.ready``."""
    _PROPERTY_PARTS[name] = part


def contact_properties(customer: Customer) -> dict[str, str]:
    """The Switchboard-owned properties of ``customer``'s contact, never a CRM-owned one."""
    first, _, last = customer.name.strip().partition(" ")
    properties = {
        "email": customer.email,
        "firstname": first,
        "lastname": last,
        "phone": customer.phone,
        "switchboard_customer_id": str(customer.pk),
    }
    for name in sorted(_PROPERTY_PARTS):
        properties.update(_PROPERTY_PARTS[name](customer))
    return {k: v for k, v in properties.items() if k in SWITCHBOARD_OWNED_PROPERTIES}
