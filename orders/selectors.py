from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from orders.models import Order


def customer_ids_by_order_number(term: str) -> QuerySet[Order, Any]:
    return Order.objects.filter(number__iexact=term).values("customer_id")
