"""Shipping quotes API: options from every enabled carrier within a budget, never an error for a
carrier that is down or slow (``shipping.workflows.shipping_quotes_fetch``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access.api_keys import HasScope
from accounts.models import ApiKey
from integrations.api_errors import PROBLEM_CONTENT_TYPE, ProblemSerializer
from orders.models import Order
from shipping.carriers.base import Parcel, QuoteRequest
from shipping.models import ShippingQuote
from shipping.packing import PackingLine, pack
from shipping.serializers import (
    QuoteAnswerSerializer,
    QuoteRequestSerializer,
    ShippingQuoteSerializer,
)
from shipping.services import shipping_quote_choose, shipping_quotes_record
from shipping.workflows import shipping_quotes_fetch


def _parcels(data: dict[str, Any]) -> tuple[Parcel, ...]:
    declared = data["declared_amount"]
    if "lines" in data:
        return tuple(
            pack([PackingLine(**line) for line in data["lines"]], declared_amount=declared)
        )
    volumes = data["volumes"]
    share, rest = divmod(declared, len(volumes))
    return tuple(
        Parcel(
            weight_grams=v["weight_grams"],
            length_mm=v["length_mm"],
            width_mm=v["width_mm"],
            height_mm=v["height_mm"],
            declared_amount=share + (rest if i == 0 else 0),
        )
        for i, v in enumerate(volumes)
    )


def default_origin() -> str:
    return str(settings.SHIPPING_ORIGIN_POSTAL_CODE or settings.MELHOR_ENVIO_FROM_POSTAL_CODE or "")


class QuoteCreate(APIView):
    """POST a destination and the parcel (lines or volumes); answers the options of every
    enabled carrier that answered within ``SHIPPING_QUOTE_BUDGET_SECONDS`` (3 s), cheapest
    first. A carrier that is down, refusing or slow is skipped (listed in ``skipped``), never an
    error; when none answers, the cached table rates are the options and ``source`` is
    ``table``. With ``order``, the options are kept as that order's quotes (their ``id`` can be
    chosen: ``POST /api/v1/shipping/quotes/<id>/choose/``)."""

    permission_classes = [HasScope]
    required_scope = ApiKey.Scope.SHIPPING_QUOTE

    @extend_schema(
        request=QuoteRequestSerializer,
        responses={
            200: QuoteAnswerSerializer,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Invalid request."
            ),
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="No order with that number."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        incoming = QuoteRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        order = get_object_or_404(Order, number=data["order"]) if data.get("order") else None
        parcels = _parcels(data)
        answer = shipping_quotes_fetch(
            request=QuoteRequest(
                reference=f"order:{order.pk}" if order else "quote",
                order_number=order.number if order else "",
                items=sum(p.items for p in parcels),
                declared_amount=data["declared_amount"],
                currency=data["currency"],
                destination_postal_code=data["destination_postal_code"],
                origin_postal_code=data.get("origin_postal_code") or default_origin(),
                parcels=parcels,
            )
        )
        options: list[dict[str, Any]] = [
            {
                "carrier": o.carrier,
                "service": o.service,
                "service_id": o.service_id,
                "amount": o.amount,
                "currency": o.currency,
                "days": o.days,
                "source": o.source,
                "updated_at": o.updated_at,
            }
            for o in answer.options
        ]
        if order is not None:
            kept = shipping_quotes_record(order=order, options=answer.options)
            for option, row in zip(options, kept, strict=True):
                option["id"] = row.pk
        body = QuoteAnswerSerializer(
            {
                "source": answer.source,
                "options": options,
                "skipped": [
                    {"carrier": name, "reason": reason}
                    for name, reason in sorted(answer.skipped.items())
                ],
                "elapsed_ms": answer.elapsed_ms,
            }
        ).data
        return Response(body, status=status.HTTP_200_OK)


class QuoteChoose(APIView):
    """POST to make a kept quote its order's chosen one: the ship workflow buys that service
    when the order is paid. 409 once the order has a shipment (void its label first)."""

    permission_classes = [HasScope]
    required_scope = ApiKey.Scope.SHIPPING_QUOTE

    @extend_schema(
        request=None,
        responses={
            200: ShippingQuoteSerializer,
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer),
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The order already has a shipment."
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        quote = get_object_or_404(ShippingQuote.objects.select_related("order"), pk=pk)
        quote = shipping_quote_choose(quote=quote)
        return Response(ShippingQuoteSerializer(quote).data)
