"""Product usage's part of a customer's data export and context summary (``accounts.customers``)."""

from __future__ import annotations

from typing import Any

from accounts.customers.export import export_rows, export_value, register_customer_export_section
from accounts.customers.summary import register_customer_summary_part
from accounts.models import Customer
from usage.models import CustomerFeatureUsage
from usage.selectors import customer_usage_summary


def usage_export(customer: Customer) -> dict[str, Any]:
    """The usage aggregates kept for the customer: first and last seen, events, active days and
    every feature's use count."""
    summary = customer_usage_summary(customer_id=customer.pk)
    features = CustomerFeatureUsage.objects.filter(customer_id=customer.pk).order_by("feature")
    return {
        "first_seen_at": export_value(summary.first_seen_at),
        "last_seen_at": export_value(summary.last_seen_at),
        "events": summary.events,
        "active_days_7": summary.active_days_7,
        "active_days_30": summary.active_days_30,
        "features": export_rows(features, ["feature", "uses", "first_used_at", "last_used_at"]),
    }


def usage_summary(customer: Customer) -> dict[str, Any]:
    """Last seen and active days in the last 7 and 30 UTC days. Three queries."""
    summary = customer_usage_summary(customer_id=customer.pk)
    return {
        "first_seen_at": export_value(summary.first_seen_at),
        "last_seen_at": export_value(summary.last_seen_at),
        "active_days_7": summary.active_days_7,
        "active_days_30": summary.active_days_30,
    }


def register_customer_data() -> None:
    register_customer_export_section("usage", usage_export)
    register_customer_summary_part("usage", usage_summary)
