"""A customer's data as one JSON document, for a support (data access) request.

``accounts`` imports no domain app, so each app adds its sections from its ``AppConfig.ready``
(``register_customer_export_section``): a name and a function from the customer to JSON-ready
data. Money stays as the stored integer minor units next to its currency; times are ISO 8601 UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access.audit import audit_record
from accounts.models import AuditLogEntry, Customer, CustomerIdentifier, CustomerNote
from integrations.models import DomainEvent

EXPORT_FORMAT_VERSION = 1

ExportSection = Callable[[Customer], Any]
_SECTIONS: dict[str, ExportSection] = {}


def register_customer_export_section(name: str, section: ExportSection) -> None:
    """Add (or replace) the section ``name`` of every export; called from ``AppConfig.ready``."""
    _SECTIONS[name] = section


def export_value(value: Any) -> Any:
    """A stored value as JSON: aware datetimes in UTC ISO 8601, dates and times ISO, the rest
    as is (money fields are integers already)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def export_rows(
    rows: Iterable[models.Model], fields: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Each row's concrete fields (foreign keys as ids, ``<name>_id``), or only ``fields``."""
    out = []
    for row in rows:
        names = (
            list(fields) if fields is not None else [f.attname for f in row._meta.concrete_fields]
        )
        out.append({name: export_value(getattr(row, name)) for name in names})
    return out


def _own_sections(customer: Customer) -> dict[str, Any]:
    return {
        "customer": export_rows([customer])[0],
        "identifiers": export_rows(CustomerIdentifier.objects.filter(customer=customer)),
        "notes": export_rows(
            CustomerNote.objects.filter(customer=customer).order_by("created_at", "id"),
            ["id", "author_id", "body", "created_at"],
        ),
        "timeline": export_rows(
            DomainEvent.objects.filter(customer=customer).order_by("occurred_at", "id"),
            [
                "id",
                "type",
                "kind",
                "occurred_at",
                "recorded_at",
                "actor_label",
                "subject_label",
                "subject_id",
                "data",
            ],
        ),
    }


def customer_export_document(*, customer: Customer) -> dict[str, Any]:
    """The whole document: the customer's own rows, then every registered section by name.
    Reads only; see ``customer_export`` for the audited export."""
    document: dict[str, Any] = {
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": export_value(timezone.now()),
        "money": "Amounts are integers in minor units of the currency next to them.",
    }
    document.update(_own_sections(customer))
    for name in sorted(_SECTIONS):
        document[name] = _SECTIONS[name](customer)
    return document


def customer_export(
    *, customer: Customer, actor: Any, request: HttpRequest | None = None
) -> dict[str, Any]:
    """Build the customer's export and write its audit entry (action ``export``) in one
    transaction: no export leaves without its entry. Raises only on a database error."""
    with transaction.atomic():
        document = customer_export_document(customer=customer)
        audit_record(
            action=AuditLogEntry.Action.EXPORT,
            actor=actor,
            obj=customer,
            summary="Customer data exported: " + ", ".join(sorted(_SECTIONS)),
            request=request,
        )
    return document
