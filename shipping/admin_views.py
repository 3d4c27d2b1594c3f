"""The shipping panel of the admin's order page: buy a label with a quote, void a label.

POST-only views under the order's admin URL (wired by ``orders.admin.ORDER_PAGE_URLS``), for
staff with ``shipping.buy_label`` (ops and admin; support and the others get 403). Each calls
the same service or workflow as the API and goes back to the order page with a message saying
what happened and for how much.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST

from accounts.models import User
from integrations.exceptions import ProviderRejected, ProviderUnavailable, SwitchboardError
from integrations.money import format_money
from orders.models import Order
from shipping.models import Shipment, ShipmentStatus, ShippingQuote
from shipping.services import shipment_label_request
from shipping.workflows import shipment_void_label

BUY_PERMISSION = "shipping.buy_label"
VOIDABLE = (ShipmentStatus.PENDING, ShipmentStatus.LABEL_PURCHASED)


def can_buy_labels(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(BUY_PERMISSION))


def _back(order: Order) -> HttpResponse:
    return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))


def _pk(value: str | None) -> int:
    """The posted id, or 0 (no row) for anything that is not one."""
    return int(value) if value and value.isascii() and value.isdigit() else 0


def buy_label_view(request: HttpRequest, order_id: int) -> HttpResponse:
    """Choose the posted quote and queue its label purchase (retried while the carrier is
    down; the shipment appears on the page once bought)."""
    if not can_buy_labels(request):
        raise PermissionDenied("Your role cannot buy shipping labels.")
    order = get_object_or_404(Order, pk=order_id)
    quote = ShippingQuote.objects.filter(order=order, pk=_pk(request.POST.get("quote"))).first()
    if quote is None:
        messages.error(request, "Choose one of this order's quotes to buy its label.")
        return _back(order)
    actor = request.user if isinstance(request.user, User) else None
    try:
        shipment_label_request(quote=quote, actor=actor)
    except SwitchboardError as exc:
        messages.error(request, f"No label bought: {exc}")
        return _back(order)
    price = format_money(quote.amount, quote.currency)
    shipment = Shipment.objects.filter(order=order).exclude(status=ShipmentStatus.CANCELLED).first()
    if shipment is not None and shipment.status != ShipmentStatus.PENDING:
        messages.success(
            request,
            f"Label bought: {quote.carrier} {quote.service} for {price}, "
            f"tracking code {shipment.tracking_code}.",
        )
    else:
        messages.success(
            request,
            f"Label purchase queued: {quote.carrier} {quote.service} for {price}; it is retried "
            "until the carrier answers.",
        )
    return _back(order)


def void_label_view(request: HttpRequest, order_id: int) -> HttpResponse:
    """Void the posted shipment's label at its carrier, then cancel the shipment."""
    if not can_buy_labels(request):
        raise PermissionDenied("Your role cannot void shipping labels.")
    order = get_object_or_404(Order, pk=order_id)
    shipment = Shipment.objects.filter(
        order=order, pk=_pk(request.POST.get("shipment")), status__in=VOIDABLE
    ).first()
    if shipment is None:
        messages.error(request, "Choose a shipment of this order whose label can be voided.")
        return _back(order)
    try:
        shipment_void_label(
            shipment_id=shipment.pk, reason=f"Voided from the order page by {request.user}"
        )
    except (ProviderRejected, ProviderUnavailable) as exc:
        messages.error(request, f"The label was not voided: {exc}")
        return _back(order)
    price = format_money(shipment.cost_amount, shipment.cost_currency)
    messages.success(
        request,
        f"Label voided: {shipment.carrier} {shipment.tracking_code or shipment.service} "
        f"({price}); the shipment is cancelled.",
    )
    return _back(order)


def order_shipping_urls(model_admin: admin.ModelAdmin[Any]) -> list[URLPattern]:
    site = model_admin.admin_site
    return [
        path(
            "<int:order_id>/shipping/buy/",
            site.admin_view(require_POST(buy_label_view)),
            name="orders_order_shipping_buy",
        ),
        path(
            "<int:order_id>/shipping/void/",
            site.admin_view(require_POST(void_label_view)),
            name="orders_order_shipping_void",
        ),
    ]
