"""Finding a customer by an identifier that lives in another app (order number, provider ids).

``accounts`` imports no domain app, so each app registers a lookup in its ``AppConfig.ready``:
a function from the typed search term to a queryset of customer ids. Lookups are exact matches
on indexed columns, so admin search stays fast however large those tables grow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from accounts.customers.validators import normalize_phone, normalize_tax_document
from accounts.models import Customer, CustomerIdentifier

CustomerLookup = Callable[[str], "QuerySet[Any, Any]"]
_LOOKUPS: list[CustomerLookup] = []


def register_customer_lookup(lookup: CustomerLookup) -> None:
    if lookup not in _LOOKUPS:
        _LOOKUPS.append(lookup)


def _own_lookups(term: str) -> Iterable[Q]:
    yield Q(pk__in=CustomerIdentifier.objects.filter(external_id=term).values("customer_id"))
    # LOWER(email) = ..., which the customer_email_lower index serves on both databases;
    # ``email__iexact`` is a LIKE on SQLite and an UPPER() on PostgreSQL, which no index serves.
    yield Q(Exact(Lower("email"), term.lower()))
    document = normalize_tax_document(term)
    if len(document) in (11, 14):
        yield Q(tax_document=document)
    if sum(c.isdigit() for c in term) >= 8:
        with contextlib.suppress(ValidationError):  # not a phone: it just doesn't match one
            yield Q(phone=normalize_phone(term))


def customer_search_q(term: str) -> Q:
    """A Q over Customer matching ``term`` exactly in any registered identifier."""
    term = term.strip()
    query = Q(pk__in=[])
    if not term:
        return query
    for q in _own_lookups(term):
        query |= q
    for lookup in _LOOKUPS:
        query |= Q(pk__in=lookup(term))
    return query


def customer_ids_matching(term: str, *, limit: int = 100) -> list[int]:
    """Ids of the customers matching ``term`` exactly in any registered identifier, one small
    query per identifier, each served by its own index. One query ORing them all (as
    ``customer_search_q`` does) leaves PostgreSQL a choice of plans it may get wrong."""
    term = term.strip()
    if not term:
        return []
    found: set[int] = set()
    for q in _own_lookups(term):
        found.update(Customer.objects.filter(q).order_by().values_list("pk", flat=True)[:limit])
    for lookup in _LOOKUPS:
        for row in lookup(term).order_by()[:limit]:
            value = next(iter(row.values())) if isinstance(row, dict) else row
            if value is not None:
                found.add(int(value))
    return sorted(found)


def customer_search(term: str) -> QuerySet[Customer]:
    return Customer.objects.filter(customer_search_q(term))
