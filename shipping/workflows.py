"""Shipping workflows that call the carrier: ship a paid order (cheapest quote, then its label).
The subscriber in ``shipping.subscribers`` is a one-line call to this.

Carrier calls happen outside any transaction; each step is idempotent, so a retry after a crash
or an outage continues where the last attempt stopped and never opens a second shipment or buys
a second label.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Sum
from django.utils import timezone

from integrations.exceptions import InvalidTransition, ProviderRejected, ProviderUnavailable
from integrations.providers import SHIPPING, enabled_specs
from integrations.transitions import lock
from orders.models import Order
from shipping.carriers import get_carrier
from shipping.carriers.base import Carrier, LabelRequest, Parcel, Quote, QuoteRequest
from shipping.exceptions import NoCarrierService
from shipping.facts import TrackingFact, tracking_fact_apply
from shipping.models import (
    TRACKING_STATUSES,
    QuoteSource,
    Shipment,
    ShipmentStatus,
    ShippingQuote,
    TrackingStatus,
)
from shipping.packing import PackingLine, pack
from shipping.promises import promised_delivery_date
from shipping.selectors import table_rates_for
from shipping.services import (
    SHIPPABLE_ORDER_STATUSES,
    QuoteOption,
    shipment_cancel,
    shipment_create,
    shipment_purchase_label,
    table_rate_upsert,
)

log = structlog.get_logger(__name__)


def _open_shipment(order: Order) -> Shipment | None:
    return (
        Shipment.objects.filter(order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .order_by("id")
        .first()
    )


def _items(order: Order) -> int:
    return int(order.lines.aggregate(total=Sum("quantity"))["total"] or 1)


def order_parcels(order: Order) -> tuple[Parcel, ...]:
    """The order's lines packed into volumes (``shipping.packing``), its total declared."""
    lines = [
        PackingLine(
            quantity=line.quantity,
            weight_grams=line.weight_grams,
            length_mm=line.length_mm,
            width_mm=line.width_mm,
            height_mm=line.height_mm,
        )
        for line in order.lines.all()
    ]
    return tuple(pack(lines, declared_amount=order.total_amount))


def _cheapest(quotes: list[Quote]) -> Quote:
    if not quotes:
        raise NoCarrierService("The carrier offered no service for this parcel.")
    return min(quotes, key=lambda quote: (quote.amount, quote.days))


def _chosen_or_cheapest(order: Order) -> tuple[str, str, int, str, int]:
    """(carrier, service, cost, its currency, promised business days): the order's chosen quote
    when it has one, else the cheapest quote of the active carrier (asked now). The cost keeps
    the carrier's currency (EasyPost prices in USD whatever the order's)."""
    chosen = ShippingQuote.objects.filter(order=order, chosen=True).first()
    if chosen is not None:
        return chosen.carrier, chosen.service, chosen.amount, chosen.currency, chosen.days
    carrier = get_carrier()
    quote = _cheapest(
        carrier.quote(
            request=QuoteRequest(
                reference=f"order:{order.pk}",
                order_number=order.number,
                items=_items(order),
                declared_amount=order.total_amount,
                currency=order.currency,
                destination_postal_code=order.ship_to_postal_code,
                parcels=order_parcels(order),
            )
        )
    )
    return carrier.name, quote.service, quote.amount, quote.currency, quote.days


def shipment_start_for_order(*, order_id: int | str) -> None:
    """A paid order's shipment with its chosen quote (``ShippingQuote.chosen``), or else the
    cheapest quote of the active carrier, then its label (idempotency key ``shipment:<pk>``).

    Idempotent on the order: an open (not cancelled) shipment is reused, and a shipment that
    already has its label is left alone. An order that is no longer paid or fulfilling (refunded
    meanwhile) gets no shipment. Carrier errors (ProviderUnavailable, ProviderRejected) propagate,
    so the caller retries; a retry finds the pending shipment and only buys its label."""
    order = Order.objects.select_related("customer").get(pk=order_id)
    shipment = _open_shipment(order)
    if shipment is None:
        if order.status not in SHIPPABLE_ORDER_STATUSES:
            return
        carrier_name, service, cost, currency, days = _chosen_or_cheapest(order)
        with transaction.atomic():
            # Under the order's lock, so two runs of this workflow never open two shipments.
            order = lock(order)
            shipment = _open_shipment(order)
            if shipment is None:
                if order.status not in SHIPPABLE_ORDER_STATUSES:
                    return
                shipment = shipment_create(
                    order=order,
                    carrier=carrier_name,
                    service=service,
                    cost_amount=cost,
                    cost_currency=currency,
                    promised_delivery_on=promised_delivery_date(
                        start=timezone.now(), business_days=days
                    ),
                )
    if shipment.status == ShipmentStatus.PENDING:
        _buy_label(shipment)


def _buy_label(shipment: Shipment) -> None:
    order = shipment.order
    label = get_carrier(shipment.carrier).buy_label(
        request=LabelRequest(
            reference=f"shipment:{shipment.pk}",
            service=shipment.service,
            order_number=order.number,
            items=_items(order),
            declared_amount=order.total_amount,
            currency=order.currency,
            recipient_name=order.ship_to_name or order.customer.name,
            destination_postal_code=order.ship_to_postal_code,
            destination_street=order.ship_to_street,
            destination_number=order.ship_to_number,
            destination_complement=order.ship_to_complement,
            destination_district=order.ship_to_district,
            destination_city=order.ship_to_city,
            destination_state=order.ship_to_state,
            destination_country=order.ship_to_country,
            recipient_email=order.customer.email,
            recipient_phone=order.customer.phone,
            recipient_document=order.customer.tax_document,
            parcels=order_parcels(order),
        )
    )
    try:
        shipment_purchase_label(
            shipment=shipment,
            tracking_code=label.tracking_code,
            provider_shipment_id=label.provider_shipment_id,
            label_url=label.label_url,
        )
    except InvalidTransition as exc:
        # Moved on while the carrier answered: another run recorded the same label, or staff
        # cancelled the shipment (the label is then left unused).
        log.warning("shipping.label_not_recorded", shipment=shipment.pk, detail=str(exc))


def shipment_refresh_tracking(*, shipment_id: int | str) -> int:
    """Ask the shipment's carrier for its tracking history and apply every scan through
    ``tracking_fact_apply`` (the same path as webhooks: watermark, transitions, one
    TrackingEvent per scan). Answers how many scans the carrier reported. Raises
    ProviderUnavailable (retry later)."""
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    if not shipment.tracking_code:
        return 0
    scans = get_carrier(shipment.carrier).track(tracking_code=shipment.tracking_code)
    for scan in scans:
        status = ShipmentStatus(scan.status) if scan.status in TRACKING_STATUSES else None
        fact = TrackingFact(
            carrier=shipment.carrier,
            reference=f"shipment:{shipment.pk}",
            tracking_code=shipment.tracking_code,
            status=status,
            tracking_status=TrackingStatus(scan.tracking_status) if scan.tracking_status else None,
            occurred_at=scan.occurred_at,
            location=scan.location,
            description=scan.description,
            carrier_code=scan.carrier_code,
            carrier_message=scan.description,
        )
        with transaction.atomic():
            tracking_fact_apply(fact=fact)
    return len(scans)


def shipment_void_label(*, shipment_id: int | str, reason: str) -> Shipment:
    """Void the shipment's label at its carrier (refunded there), then cancel the shipment.
    Idempotent; raises ProviderRejected when the carrier refuses (posted) and
    ProviderUnavailable (nothing changed here; retry)."""
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    if shipment.status == ShipmentStatus.CANCELLED:
        return shipment
    if shipment.provider_shipment_id:
        get_carrier(shipment.carrier).void_label(
            provider_shipment_id=shipment.provider_shipment_id, reason=reason
        )
    return shipment_cancel(shipment=shipment, reason=reason)


# Quotes from every enabled carrier -----------------------------------------------------------

# Carrier calls still running after their answer's budget ran out (the caller did not wait for
# them; their own timeouts end them). ``quotes_settle`` waits for them (tests, benchmarks).
_late: set[Future[list[Quote]]] = set()
_late_lock = threading.Lock()


@dataclass(frozen=True)
class QuoteAnswer:
    """What ``shipping_quotes_fetch`` found: the options, cheapest first, and where they came
    from (``carriers`` or ``table``), with each carrier that was skipped and why."""

    options: list[QuoteOption]
    source: str
    skipped: dict[str, str] = field(default_factory=dict)
    elapsed_ms: int = 0


def _quote_one(carrier: Carrier, request: QuoteRequest) -> list[Quote]:
    try:
        return carrier.quote(request=request)
    finally:
        connections.close_all()  # this thread's own connections (the ledger rows')


def _forget_late(future: Future[list[Quote]]) -> None:
    with _late_lock:
        _late.discard(future)


def quotes_settle(timeout: float = 30.0) -> bool:
    """Wait for carrier calls a quote left running past its budget; True when none is left."""
    with _late_lock:
        running = list(_late)
    _, not_done = wait(running, timeout=timeout)
    return not not_done


def elapsed(started: float) -> float:
    return time.monotonic() - started


def _skip_reason(error: BaseException) -> str:
    if isinstance(error, ProviderUnavailable | ProviderRejected):
        return f"{type(error).__name__}: {error}"[:300]
    return type(error).__name__


def shipping_quotes_fetch(
    *, request: QuoteRequest, budget_seconds: float | None = None
) -> QuoteAnswer:
    """Ask every enabled carrier for quotes at once and answer within ``budget_seconds``
    (``SHIPPING_QUOTE_BUDGET_SECONDS``, 3 s): a carrier that fails (down, refusing, its breaker
    open) or has not answered by then is skipped and named in ``skipped``; its call goes on in
    the background until its own timeouts end it. Each answer keeps its prices as table rates
    (``table_rate_upsert``). When no carrier answers, the table rates for the destination and
    weight are the options (``source="table"``, possibly none). Never raises for a carrier.

    Must run outside ``transaction.atomic`` (the carriers' calls refuse to run inside one)."""
    budget = settings.SHIPPING_QUOTE_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    started = time.monotonic()
    carriers = {name: get_carrier(name) for name in enabled_specs(SHIPPING)}
    skipped: dict[str, str] = {}
    answered: dict[str, list[Quote]] = {}
    if carriers:
        executor = ThreadPoolExecutor(max_workers=len(carriers), thread_name_prefix="quote")
        futures = {
            executor.submit(_quote_one, carrier, request): name
            for name, carrier in carriers.items()
        }
        # The answer itself (table rates kept, the response) gets a tenth of the budget, at
        # most 250 ms, so the caller has it within the budget.
        reserve = min(0.25, budget / 10)
        done, not_done = wait(futures, timeout=max(budget - reserve - elapsed(started), 0.0))
        executor.shutdown(wait=False, cancel_futures=True)
        for future in not_done:
            skipped[futures[future]] = f"no answer within {budget:g} s"
            with _late_lock:
                _late.add(future)
            future.add_done_callback(_forget_late)
        for future in done:
            name = futures[future]
            error = future.exception()
            if error is None:
                answered[name] = future.result()
                continue
            skipped[name] = _skip_reason(error)
            if not isinstance(error, ProviderUnavailable | ProviderRejected):
                log.error("shipping.quote_failed", carrier=name, error=repr(error)[:300])
    weight = sum(p.weight_grams for p in request.parcels)
    options = [
        QuoteOption(
            carrier=name,
            service=quote.service,
            service_id=quote.service_id,
            amount=quote.amount,
            currency=quote.currency,
            days=quote.days,
            source=QuoteSource.CARRIER,
        )
        for name, quotes in answered.items()
        for quote in quotes
    ]
    if options:
        with transaction.atomic():
            for name, quotes in answered.items():
                for quote in quotes:
                    table_rate_upsert(
                        carrier=name,
                        quote=quote,
                        destination_postal_code=request.destination_postal_code,
                        weight_grams=weight,
                    )
        source = "carriers"
    else:
        options = [
            QuoteOption(
                carrier=rate.carrier,
                service=rate.service,
                service_id=rate.service_id,
                amount=rate.amount,
                currency=rate.currency,
                days=rate.days,
                source=QuoteSource.TABLE,
                updated_at=rate.updated_at,
            )
            for rate in table_rates_for(
                destination_postal_code=request.destination_postal_code,
                weight_grams=weight,
                currency=request.currency,
                carriers=list(carriers),
            )
        ]
        source = "table"
    if skipped:
        log.info("shipping.quote_carriers_skipped", skipped=sorted(skipped), source=source)
    return QuoteAnswer(
        options=sorted(options, key=lambda o: (o.amount, o.days, o.carrier, o.service)),
        source=source,
        skipped=skipped,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )
