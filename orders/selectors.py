from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q, QuerySet

from accounts.customers.selectors import TimelineEntry, timeline_entry
from integrations.models import DomainEvent
from orders.models import Order


def customer_ids_by_order_number(term: str) -> QuerySet[Order, Any]:
    # As typed or upper-cased, through the unique index (``__iexact`` is a LIKE on SQLite).
    return Order.objects.filter(number__in=sorted({term, term.upper()})).values("customer_id")


ORDER_TIMELINE_LIMIT = 200


def order_timeline(*, order: Order, limit: int = ORDER_TIMELINE_LIMIT) -> list[TimelineEntry]:
    """The order's own DomainEvents and those of what hangs off it (payments, shipments and
    every tracking scan and message, which name the order in ``data["order"]``), newest
    recorded first (``recorded_at``, then id: a follow-up never sorts before its cause), in
    one query. The customer filter keeps the JSON lookup on the customer's index."""
    events = (
        DomainEvent.objects.filter(
            Q(subject_type=ContentType.objects.get_for_model(Order), subject_id=str(order.pk))
            | Q(customer_id=order.customer_id, data__order=order.number)
        )
        .select_related("actor", "subject_type")
        .order_by("-recorded_at", "-id")
    )
    return [timeline_entry(event) for event in events[: max(1, limit)]]
