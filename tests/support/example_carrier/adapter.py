"""``Carrier`` for the example carrier: ``POST <EXAMPLE_CARRIER_URL>/rates`` answers
``[{"service", "amount", "days"}]`` (minor units). Labels are not its business."""

from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.outbound.client import ProviderClient
from shipping.carriers.base import Label, LabelRequest, Quote, QuoteRequest, TrackingFact

NAME = "example_carrier"


class ExampleCarrier:
    name = NAME

    def quote(self, *, request: QuoteRequest) -> list[Quote]:
        session = requests.Session()
        session.trust_env = False
        client = ProviderClient(
            NAME, str(getattr(settings, "EXAMPLE_CARRIER_URL", "")), session=session
        )
        response = client.request(
            "quote",
            "POST",
            "rates",
            json={
                "to": request.destination_postal_code,
                "grams": sum(p.weight_grams for p in request.parcels),
            },
        )
        answer: Any = response.json()
        if not isinstance(answer, list):
            raise ProviderUnavailable(f"{NAME}: rates must be a list.", provider=NAME)
        return [
            Quote(
                service=str(r["service"]),
                amount=int(r["amount"]),
                currency=request.currency,
                days=int(r["days"]),
            )
            for r in answer
        ]

    def buy_label(self, *, request: LabelRequest) -> Label:
        raise ProviderRejected(f"{NAME} sells no labels.", provider=NAME)

    def void_label(self, *, provider_shipment_id: str, reason: str = "") -> None:
        raise ProviderRejected(f"{NAME} sells no labels.", provider=NAME)

    def track(self, *, tracking_code: str) -> list[TrackingFact]:
        return []
