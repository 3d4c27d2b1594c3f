"""The orders' part of a customer's data export and context summary (``accounts.customers``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Sum

from accounts.crm.base import register_crm_contact_properties
from accounts.customers.export import export_rows, export_value, register_customer_export_section
from accounts.customers.summary import register_customer_summary_part
from accounts.models import Customer
from integrations.money import minor_unit_exponent
from orders.models import Order, OrderStatus

# Orders whose money the business keeps: paid and not cancelled or refunded.
LIFETIME_VALUE_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.FULFILLING,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
)


def orders_export(customer: Customer) -> list[dict[str, Any]]:
    """Every order of the customer, oldest first, each with its lines. Two queries."""
    orders = (
        Order.objects.filter(customer=customer)
        .prefetch_related("lines")
        .order_by("placed_at", "id")
    )
    out = []
    for order in orders:
        row = export_rows([order])[0]
        row["lines"] = export_rows(
            order.lines.all(),
            ["id", "sku", "description", "quantity", "unit_amount", "total_amount"],
        )
        out.append(row)
    return out


def orders_summary(customer: Customer) -> dict[str, Any]:
    """Orders count, count per status, lifetime value per currency (minor units; orders paid and
    not cancelled or refunded) and the last order. Three queries, whatever the number of orders."""
    orders = Order.objects.filter(customer=customer)
    by_status = {
        row["status"]: row["n"]
        for row in orders.order_by().values("status").annotate(n=Count("id"))
    }
    lifetime = [
        {"currency": row["currency"], "amount": row["amount"], "orders": row["n"]}
        for row in orders.filter(status__in=LIFETIME_VALUE_STATUSES)
        .order_by()
        .values("currency")
        .annotate(amount=Sum("total_amount"), n=Count("id"))
        .order_by("currency")
    ]
    last = orders.order_by("-placed_at", "-id").first()
    return {
        "count": sum(by_status.values()),
        "by_status": dict(sorted(by_status.items())),
        "lifetime_value": lifetime,
        "last_order": None
        if last is None
        else {
            "number": last.number,
            "status": last.status,
            "total_amount": last.total_amount,
            "currency": last.currency,
            "placed_at": export_value(last.placed_at),
        },
    }


def orders_crm_properties(customer: Customer) -> dict[str, str]:
    """The contact properties orders own in the CRM: orders count and lifetime value (in the
    currency with most paid orders, as a decimal in major units, HubSpot's number format)."""
    summary = orders_summary(customer)
    properties = {"switchboard_orders_count": str(summary["count"])}
    if summary["lifetime_value"]:
        top = max(summary["lifetime_value"], key=lambda row: (row["orders"], row["amount"]))
        exponent = minor_unit_exponent(top["currency"])
        properties["switchboard_lifetime_value"] = str(
            Decimal(int(top["amount"])).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))
        )
        properties["switchboard_lifetime_value_currency"] = top["currency"]
    return properties


def register_customer_data() -> None:
    register_crm_contact_properties("orders", orders_crm_properties)
    register_customer_export_section("orders", orders_export)
    register_customer_summary_part("orders", orders_summary)
