"""Orders API for the business's product: place orders, read them."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, pagination, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from accounts.access.api_keys import HasScope, api_client_identity
from accounts.customers.services import customer_find_or_create
from accounts.models import Customer
from integrations.api_errors import PROBLEM_CONTENT_TYPE, ProblemSerializer
from orders.models import IDEMPOTENCY_KEY_TTL, Order, OrderIdempotencyKey
from orders.serializers import OrderCreateSerializer, OrderSerializer
from orders.services import (
    OrderLineInput,
    ShippingAddress,
    order_idempotency_key_answer,
    order_idempotency_key_claim,
    order_place,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")  # printable ASCII, no spaces
ORDER_NUMBER_MAX_LENGTH = Order._meta.get_field("number").max_length


class IdempotencyKeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was already used with a different request body; "
        "use a new key for a new order."
    )
    default_code = "idempotency_key_reused"


@dataclass(frozen=True)
class _Idempotency:
    client: str
    key: str
    request_hash: str

    def earlier_answer(self) -> Response | None:
        """The answer kept for this key, or None; raises IdempotencyKeyReused when the key was
        used with another body."""
        kept = OrderIdempotencyKey.objects.filter(
            client=self.client,
            key=self.key,
            created_at__gte=timezone.now() - IDEMPOTENCY_KEY_TTL,
        ).first()
        if kept is None:
            return None
        if not hmac.compare_digest(kept.request_hash, self.request_hash):
            raise IdempotencyKeyReused()
        return Response(
            json.loads(kept.response_body),
            status=kept.status_code,
            headers={REPLAYED_HEADER: "true"},
        )


def _idempotency(request: Request) -> _Idempotency | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationError(
            {IDEMPOTENCY_HEADER: ["Use 1 to 255 printable ASCII characters, without spaces."]}
        )
    canonical = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return _Idempotency(
        client=api_client_identity(request) or "anonymous",
        key=key,
        request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _customer_for(data: dict[str, Any]) -> Customer:
    try:
        return customer_find_or_create(**data)
    except DjangoValidationError as exc:
        raise ValidationError({"customer": exc.messages}) from exc


class NewestFirst(pagination.CursorPagination):
    ordering = ("-placed_at", "-id")
    page_size = 50


@extend_schema_view(
    get=extend_schema(
        responses={
            200: OrderSerializer(many=True),
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The cursor is not one this list gave."
            ),
        }
    )
)
class OrderListCreate(generics.ListAPIView[Order]):
    """GET the newest orders (cursor-paginated); POST places one.

    POST answers 201 with the order, or 400 with the reason and nothing written (a problem
    document whose ``code`` says which): a malformed body, an order whose total is 0 (the API
    places only orders with an amount to pay, so every order it places can get a payment), a
    discount larger than the order, or an amount too large to store (any amount, line total or
    order total past 2**63 - 1 minor units).

    An ``Idempotency-Key`` header makes POST safe to retry: within ``IDEMPOTENCY_KEY_TTL`` (24 h)
    the same API client sending the same key and body gets the first answer again, status and
    body, and no second order, even when the two requests race (a unique constraint decides);
    the same key with another body is a 422. Only a placed order's answer is kept: after a 400,
    the key is still free for the corrected order.
    """

    permission_classes = [HasScope]
    pagination_class = NewestFirst
    serializer_class = OrderSerializer
    queryset = (
        Order.objects.select_related("customer")
        .prefetch_related("lines")
        .order_by("-placed_at", "-id")
    )

    @property
    def required_scope(self) -> str:
        return "orders:write" if self.request.method == "POST" else "orders:read"

    @extend_schema(
        request=OrderCreateSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description=(
                    "Optional, 1-255 printable ASCII characters. Within 24 h, a retry with the "
                    "same key and body gets the first answer again (with "
                    "`Idempotent-Replayed: true`) and places no second order; the same key "
                    "with another body is a 422. Keys are per API key or user."
                ),
            )
        ],
        responses={
            201: OrderSerializer,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Invalid order; nothing written."
            ),
            (422, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="Idempotency-Key reused with another body."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        idempotency = _idempotency(request)
        if idempotency is not None and (earlier := idempotency.earlier_answer()) is not None:
            return earlier
        incoming = OrderCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            with transaction.atomic():
                claim = (
                    order_idempotency_key_claim(
                        client=idempotency.client,
                        key=idempotency.key,
                        request_hash=idempotency.request_hash,
                    )
                    if idempotency is not None
                    else None
                )
                customer = _customer_for(dict(data["customer"]))
                order = order_place(
                    customer=customer,
                    currency=data["currency"],
                    payment_method=data["payment_method"],
                    lines=[OrderLineInput(**line) for line in data["lines"]],
                    shipping_amount=data["shipping_amount"],
                    discount_amount=data["discount_amount"],
                    shipping_address=(
                        ShippingAddress(**data["shipping_address"])
                        if data.get("shipping_address")
                        else None
                    ),
                )
                body = OrderSerializer(order).data
                if claim is not None:
                    order_idempotency_key_answer(
                        claim=claim,
                        order=order,
                        status_code=status.HTTP_201_CREATED,
                        response_body=json.dumps(body, cls=JSONEncoder),
                    )
        except IntegrityError:
            # A request with the same key got there first: answer as it was answered.
            earlier = idempotency.earlier_answer() if idempotency is not None else None
            if earlier is None:
                raise
            return earlier
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter(
                "number",
                {"type": "string", "minLength": 1, "maxLength": ORDER_NUMBER_MAX_LENGTH},
                OpenApiParameter.PATH,
                description="The order number, e.g. SB-000123.",
            )
        ],
        responses={
            200: OrderSerializer,
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="No order with this number."
            ),
        },
    )
)
class OrderDetail(generics.RetrieveAPIView[Order]):
    permission_classes = [HasScope]
    required_scope = "orders:read"
    serializer_class = OrderSerializer
    queryset = Order.objects.select_related("customer").prefetch_related("lines")
    lookup_field = "number"
