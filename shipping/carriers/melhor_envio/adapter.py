"""``Carrier`` for Melhor Envio: quotes, labels, void and tracking (CONTRACTS §3).

Label purchase is cart -> checkout -> generate -> print. Melhor Envio takes no idempotency key,
so exactly one label per shipment is kept by the order itself: the cart item carries our
reference (``shipment:<pk>``) as its tag, and every attempt first looks the reference up
(``GET /me/orders/search?q=``; UNCONFIRMED in the official docs, served by the fake) and goes on
from the status it finds: a pending order is checked out, a paid one generated, a generated one
printed. A call that times out or meets a 5xx is not repeated blindly; the next attempt re-reads
the order. So a carrier 5xx or timeout anywhere buys one label, never two.

Units at this edge: grams and millimetres in, kilograms and centimetres out; prices are BRL
decimals in, integer centavos out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

import requests
from django.conf import settings

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from shipping.carriers.base import Label, LabelRequest, Parcel, Quote, QuoteRequest, TrackingFact
from shipping.carriers.melhor_envio.client import PROVIDER, MelhorEnvioClient
from shipping.carriers.melhor_envio.tracking import STATUS_TIME_FIELD, me_status, status_time
from shipping.packing import parcels_or_default

CURRENCY = "BRL"
SERVICE_ID = re.compile(r"#(\d{1,6})$")
PURCHASED = ("released", "paid", "generated", "posted", "received", "delivered", "undelivered")
GENERATED = ("generated", "posted", "received", "delivered", "undelivered")


def service_label(quote: dict[str, Any]) -> str:
    """What the shipment stores as its service: ``Correios SEDEX #2`` (the id comes back)."""
    company = quote.get("company") or {}
    name = f"{company.get('name', '')} {quote.get('name', '')}".strip()
    return f"{name[:50]} #{quote['id']}"


def service_id(service: str) -> int:
    found = SERVICE_ID.search(service.strip())
    if found is None:
        raise ProviderRejected(
            f"{PROVIDER}: {service!r} names no Melhor Envio service id.", provider=PROVIDER
        )
    return int(found.group(1))


def to_minor(value: Any) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ProviderUnavailable(
            f"{PROVIDER}: not a price: {value!r}", provider=PROVIDER
        ) from None
    return int((amount * 100).to_integral_value(rounding=ROUND_CEILING))


def to_reais(minor: int) -> str:
    return str((Decimal(minor) / 100).quantize(Decimal("0.01")))


def volume(parcel: Parcel) -> dict[str, Any]:
    """A parcel in Melhor Envio's units: centimetres (rounded up) and kilograms."""

    def cm(mm: int) -> int:
        return max(1, -(-mm // 10))

    return {
        "height": cm(parcel.height_mm),
        "width": cm(parcel.width_mm),
        "length": cm(parcel.length_mm),
        "weight": str((Decimal(parcel.weight_grams) / 1000).quantize(Decimal("0.001"))),
    }


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isascii() and c.isdigit())


class MelhorEnvioCarrier:
    """See the module docstring. Each method raises ProviderUnavailable (retry later) or
    ProviderRejected (terminal)."""

    name = PROVIDER

    def __init__(
        self,
        *,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Any = None,
    ) -> None:
        self.session_factory = session_factory
        self.sleep = sleep

    def client(self) -> MelhorEnvioClient:
        session = self.session_factory() if self.session_factory else None
        return MelhorEnvioClient(session=session, sleep=self.sleep)

    def _from(self) -> dict[str, Any]:
        return {
            "name": settings.MELHOR_ENVIO_FROM_NAME,
            "phone": settings.MELHOR_ENVIO_FROM_PHONE,
            "email": settings.MELHOR_ENVIO_FROM_EMAIL,
            "document": _digits(settings.MELHOR_ENVIO_FROM_DOCUMENT),
            "address": settings.MELHOR_ENVIO_FROM_ADDRESS,
            "number": settings.MELHOR_ENVIO_FROM_NUMBER,
            "district": settings.MELHOR_ENVIO_FROM_DISTRICT,
            "city": settings.MELHOR_ENVIO_FROM_CITY,
            "state_abbr": settings.MELHOR_ENVIO_FROM_STATE,
            "postal_code": _digits(settings.MELHOR_ENVIO_FROM_POSTAL_CODE),
        }

    # Quotes ------------------------------------------------------------------------------

    def quote(self, *, request: QuoteRequest) -> list[Quote]:
        """``POST /me/shipment/calculate`` with the packed volumes (cm/kg) and the declared
        value as insurance; one Quote per service that answered without an error."""
        destination = _digits(request.destination_postal_code)
        if len(destination) != 8:
            raise ProviderRejected(
                f"{PROVIDER}: a quote needs the destination CEP.", provider=PROVIDER
            )
        parcels = parcels_or_default(
            request.parcels, items=request.items, declared_amount=request.declared_amount
        )
        body: dict[str, Any] = {
            "from": {
                "postal_code": _digits(
                    request.origin_postal_code or settings.MELHOR_ENVIO_FROM_POSTAL_CODE
                )
            },
            "to": {"postal_code": destination},
            "volumes": [{**volume(p), "insurance": to_reais(p.declared_amount)} for p in parcels],
            "options": {"receipt": False, "own_hand": False, "collect": False},
        }
        if settings.MELHOR_ENVIO_SERVICES:
            body["services"] = settings.MELHOR_ENVIO_SERVICES
        answer = self.client().call("quote", "POST", "me/shipment/calculate", body=body)
        if not isinstance(answer, list):
            raise ProviderUnavailable(f"{PROVIDER}: quotes must be a list.", provider=PROVIDER)
        quotes = []
        for item in answer:
            if not isinstance(item, dict) or item.get("error") or "id" not in item:
                continue
            price = item.get("custom_price") or item.get("price")
            if price in (None, ""):
                continue
            days = item.get("custom_delivery_time") or item.get("delivery_time") or 0
            quotes.append(
                Quote(
                    service=service_label(item),
                    amount=to_minor(price),
                    currency=CURRENCY,
                    days=int(days) if isinstance(days, int) else 0,
                    service_id=str(item["id"]),
                )
            )
        return sorted(quotes, key=lambda q: (q.amount, q.days))

    # Labels ------------------------------------------------------------------------------

    def _search(self, term: str) -> list[dict[str, Any]]:
        answer = self.client().call("order.search", "GET", "me/orders/search", params={"q": term})
        items = answer.get("data", answer) if isinstance(answer, dict) else answer
        return [dict(o) for o in items if isinstance(o, dict)] if isinstance(items, list) else []

    def find_order(self, reference: str) -> dict[str, Any] | None:
        """The order tagged with ``reference`` that is not cancelled, if any."""
        for order in self._search(reference):
            tags = [t.get("tag") for t in order.get("tags") or [] if isinstance(t, dict)]
            if reference in tags and order.get("status") not in ("canceled", "cancelled"):
                return order
        return None

    def get_order(self, order_id: str) -> dict[str, Any]:
        answer = self.client().call("order.get", "GET", f"me/orders/{_segment(order_id)}")
        if not isinstance(answer, dict):
            raise ProviderUnavailable(f"{PROVIDER}: an order must be an object.", provider=PROVIDER)
        return answer

    def _cart(self, request: LabelRequest) -> dict[str, Any]:
        parcels = parcels_or_default(
            request.parcels, items=request.items, declared_amount=request.declared_amount
        )
        body = {
            "service": service_id(request.service),
            "from": self._from(),
            "to": {
                "name": request.recipient_name,
                "email": request.recipient_email,
                "phone": _digits(request.recipient_phone),
                "document": _digits(request.recipient_document),
                "postal_code": _digits(request.destination_postal_code),
                "address": request.destination_street,
                "number": request.destination_number,
                "complement": request.destination_complement,
                "district": request.destination_district,
                "city": request.destination_city,
                "state_abbr": request.destination_state,
                "country_id": request.destination_country or "BR",
            },
            "products": [
                {
                    "name": f"Order {request.order_number}",
                    "quantity": max(request.items, 1),
                    "unitary_value": to_reais(request.declared_amount // max(request.items, 1)),
                }
            ],
            "volumes": [volume(p) for p in parcels],
            "options": {
                "insurance_value": to_reais(request.declared_amount),
                "receipt": False,
                "own_hand": False,
                "non_commercial": True,
                "platform": settings.MELHOR_ENVIO_APP_NAME,
                "tags": [{"tag": request.reference, "url": None}],
            },
        }
        answer = self.client().call("label.cart", "POST", "me/cart", body=body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise ProviderUnavailable(f"{PROVIDER}: the cart gave no order id.", provider=PROVIDER)
        return answer

    def _step(self, operation: str, path: str, body: dict[str, Any]) -> None:
        """One mutating step, sent once: after a timeout or 5xx the caller re-reads the order
        instead of sending it again."""
        self.client().call(operation, "POST", path, body=body)

    def buy_label(self, *, request: LabelRequest) -> Label:
        """The label for ``request.reference``, bought once however often this is called (see
        the module docstring)."""
        order = self.find_order(request.reference) or self._cart(request)
        order_id = str(order["id"])
        if order.get("status") not in PURCHASED:
            try:
                self._step("label.checkout", "me/shipment/checkout", {"orders": [order_id]})
            except ProviderUnavailable:
                if self.get_order(order_id).get("status") not in PURCHASED:
                    raise
            order = self.get_order(order_id)
            if order.get("status") not in PURCHASED:
                raise ProviderUnavailable(
                    f"{PROVIDER}: order {order_id} is {order.get('status')} after checkout.",
                    provider=PROVIDER,
                )
        if order.get("status") not in GENERATED:
            try:
                self._step(
                    "label.generate",
                    "me/shipment/generate",
                    {"orders": [order_id], "mode": "public"},
                )
            except ProviderUnavailable:
                if self.get_order(order_id).get("status") not in GENERATED:
                    raise
        printed = self.client().call(
            "label.print",
            "POST",
            "me/shipment/print",
            body={"orders": [order_id], "mode": "public"},
        )
        order = self.get_order(order_id)
        code = str(order.get("self_tracking") or order.get("tracking") or "")
        if not code:
            raise ProviderUnavailable(
                f"{PROVIDER}: order {order_id} has no tracking code yet.", provider=PROVIDER
            )
        return Label(
            tracking_code=code,
            provider_shipment_id=order_id,
            label_url=str(printed.get("url", "")) if isinstance(printed, dict) else "",
        )

    def void_label(self, *, provider_shipment_id: str, reason: str = "") -> None:
        """``POST /me/shipment/cancel``: the label is cancelled and refunded to the wallet.
        Idempotent: an order already cancelled is left alone. Raises ProviderRejected when the
        carrier refuses (a posted parcel)."""
        order = self.get_order(provider_shipment_id)
        if order.get("status") in ("canceled", "cancelled"):
            return
        self.client().call(
            "label.cancel",
            "POST",
            "me/shipment/cancel",
            body={
                "order": {
                    "id": provider_shipment_id,
                    "reason_id": "2",
                    "description": (reason or "Cancelled by the seller")[:255],
                }
            },
        )

    # Tracking ----------------------------------------------------------------------------

    def track(self, *, tracking_code: str) -> list[TrackingFact]:
        """The order's history from ``POST /me/shipment/tracking`` and its timestamps, oldest
        first: one fact per step it reached (paid, generated, posted, delivered, ...)."""
        found = [
            o
            for o in self._search(tracking_code)
            if tracking_code in (o.get("tracking"), o.get("self_tracking"))
        ]
        if not found:
            return []
        order = found[0]
        order_id = str(order["id"])
        answer = self.client().call(
            "tracking.refresh", "POST", "me/shipment/tracking", body={"orders": [order_id]}
        )
        state = answer.get(order_id) if isinstance(answer, dict) else None
        if not isinstance(state, dict):
            return []
        facts = []
        for status, field in STATUS_TIME_FIELD.items():
            if status in ("pending", "created", "cancelled", "received", "released"):
                continue
            when = status_time(state, status) if state.get(field) else None
            if when is None:
                continue
            normalised, shipment_status = me_status(status)
            facts.append(
                TrackingFact(
                    status=str(shipment_status or ""),
                    occurred_at=when,
                    tracking_status=str(normalised),
                    carrier_code=status,
                )
            )
        return sorted(facts, key=lambda fact: fact.occurred_at)


def _segment(order_id: str) -> str:
    if not order_id or not all(c.isalnum() or c == "-" for c in order_id):
        raise ProviderRejected(f"Not a Melhor Envio order id: {order_id!r}.", provider=PROVIDER)
    return order_id
