"""The customer's context: the summary the customer page header shows and
``GET /api/v1/customers/{id}/context/`` answers.

``accounts`` imports no domain app, so each app adds its parts from its ``AppConfig.ready``
(``register_customer_summary_part``): a name and a function from the customer to JSON-ready data.
Each part must read in a fixed number of queries (aggregates, never a row per order), so the
whole summary costs the same for a customer with one order or ten thousand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.customers.export import export_value
from accounts.models import Customer

SummaryPart = Callable[[Customer], Any]
DerivedSummaryPart = Callable[[Customer, dict[str, Any]], Any]
_PARTS: dict[str, SummaryPart] = {}
_DERIVED: dict[str, DerivedSummaryPart] = {}


def register_customer_summary_part(name: str, part: SummaryPart) -> None:
    """Add (or replace) the part ``name`` of every summary; called from ``AppConfig.ready``."""
    _PARTS[name] = part


def register_customer_summary_derived_part(name: str, part: DerivedSummaryPart) -> None:
    """Add the part ``name`` computed after every plain part, from the customer and the summary
    so far (the health score reads usage, payments and consent)."""
    _DERIVED[name] = part


def customer_summary(*, customer: Customer) -> dict[str, Any]:
    """The customer's id, name and e-mail, then every registered part by name. Reads only."""
    summary: dict[str, Any] = {
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "email": customer.email,
            "created_at": export_value(customer.created_at),
        }
    }
    for name in sorted(_PARTS):
        summary[name] = _PARTS[name](customer)
    for name in sorted(_DERIVED):
        summary[name] = _DERIVED[name](customer, summary)
    return summary
