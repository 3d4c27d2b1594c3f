"""``{% customer_usage_panel original %}``: the customer page's product-usage panel (first and
last seen, active days, most used features; ``templates/admin/usage/customer_usage.html``)."""

from __future__ import annotations

from typing import Any

from django import template

from usage.selectors import customer_usage_summary

register = template.Library()


@register.inclusion_tag("admin/usage/customer_usage.html")
def customer_usage_panel(customer: Any) -> dict[str, Any]:
    return {"usage": customer_usage_summary(customer_id=customer.pk)}
