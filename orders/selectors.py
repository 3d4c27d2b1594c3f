from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from orders.models import Order


def customer_ids_by_order_number(term: str) -> QuerySet[Order, Any]:
    # As typed or upper-cased, through the unique index (``__iexact`` is a LIKE on SQLite).
    return Order.objects.filter(number__in=sorted({term, term.upper()})).values("customer_id")
