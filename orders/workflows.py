"""Work of the orders app that calls a provider (outside any transaction; see
``integrations.outbound.client``)."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from integrations.events import record_event
from integrations.models import DomainEvent
from orders.models import Order
from orders.sources import get_order_source
from orders.sources.base import FulfillmentReport, OrderSource

STOREFRONT_FULFILLED = "order.storefront_fulfilled"


def tracking_company(*, carrier: str, service: str) -> str:
    """The company a storefront shows next to the tracking number: the first word of the
    carrier's service (``Correios PAC`` -> Correios, ``USPS Priority`` -> USPS), else the
    carrier's name."""
    words = service.split()
    return words[0] if words else carrier.replace("_", " ").title()


def order_storefront_fulfillment_report(
    *, domain_event_id: int, source: OrderSource | None = None
) -> None:
    """A label was bought (``shipment.label_purchased`` event ``domain_event_id``): when its
    order came from a storefront, write the tracking number and company back there, and put
    the outcome on the order's timeline once. Orders placed here are left alone. Idempotent:
    a redelivery finds the fulfilment already there and writes nothing twice.

    Raises ProviderUnavailable (retried by the delivery relay), ProviderRejected (terminal) and
    ImproperlyConfigured when the order's storefront is no longer enabled."""
    event = DomainEvent.objects.get(pk=domain_event_id)
    data = event.data
    order = Order.objects.filter(number=str(data.get("order", ""))).first()
    if order is None or not order.source or not order.external_id:
        return
    tracking_code = str(data.get("tracking_code") or "").strip()
    if not tracking_code:
        return
    if DomainEvent.objects.filter(
        type=STOREFRONT_FULFILLED,
        subject_type=ContentType.objects.get_for_model(Order),
        subject_id=str(order.pk),
        data__tracking_code=tracking_code,
    ).exists():
        return
    company = tracking_company(
        carrier=str(data.get("carrier") or ""), service=str(data.get("service") or "")
    )
    adapter = source or get_order_source(order.source)
    result = adapter.report_fulfillment(
        FulfillmentReport(
            external_order_id=order.external_id,
            tracking_number=tracking_code,
            tracking_company=company,
            reference=f"order:{order.pk}",
        ),
        subject=order,
    )
    if result.created:
        outcome = "sent"
    elif result.fulfillment_ids:
        outcome = "already there"
    else:
        outcome = "nothing left to fulfil"
    with transaction.atomic():
        record_event(
            type=STOREFRONT_FULFILLED,
            customer=order.customer,
            subject=order,
            actor_label=order.source,
            data={
                "number": order.number,
                "source": order.source,
                "tracking_code": tracking_code,
                "company": company,
                "outcome": outcome,
            },
        )
