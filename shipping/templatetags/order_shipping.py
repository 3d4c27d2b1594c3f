"""``{% order_shipping_panel original %}``: the order page's quotes and labels, with the buy and
void buttons for staff who may use them (``templates/admin/shipping/order_shipping.html``)."""

from __future__ import annotations

from typing import Any

from django import template

from shipping.admin_views import VOIDABLE, can_buy_labels
from shipping.models import Shipment, ShipmentStatus
from shipping.selectors import order_shipping_quotes

register = template.Library()


@register.inclusion_tag("admin/shipping/order_shipping.html", takes_context=True)
def order_shipping_panel(context: Any, order: Any) -> dict[str, Any]:
    shipments = list(Shipment.objects.filter(order=order).order_by("-created_at", "-id"))
    has_open = any(s.status != ShipmentStatus.CANCELLED for s in shipments)
    return {
        "order": order,
        "quotes": order_shipping_quotes(order_id=order.pk),
        "shipments": shipments,
        "voidable": VOIDABLE,
        "can_buy": can_buy_labels(context["request"]),
        "has_open_shipment": has_open,
        "csrf_token": context.get("csrf_token"),
    }
