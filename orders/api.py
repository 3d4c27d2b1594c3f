"""Orders API for the business's product: place orders, read them, send usage."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, pagination, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_keys import HasScope
from accounts.models import Customer
from accounts.services import customer_find_or_create
from orders.models import Order
from orders.serializers import OrderCreateSerializer, OrderSerializer, UsageEventSerializer
from orders.services import OrderLineInput, order_place, usage_record


def _customer_for(data: dict[str, Any]) -> Customer:
    try:
        return customer_find_or_create(**data)
    except DjangoValidationError as exc:
        raise ValidationError({"customer": exc.messages}) from exc


class NewestFirst(pagination.CursorPagination):
    ordering = ("-placed_at", "-id")
    page_size = 50


class OrderListCreate(generics.ListAPIView[Order]):
    """GET the newest orders (cursor-paginated); POST places one.

    POST answers 201 with the order, or 400 with the reason and nothing written: a malformed
    body, an order whose total is 0 (the API places only orders with an amount to pay, so every
    order it places can get a payment), a discount larger than the order, or an amount too large
    to store (any amount, line total or order total past 2**63 - 1 minor units).
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

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer})
    def post(self, request: Request) -> Response:
        incoming = OrderCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        with transaction.atomic():
            customer = _customer_for(dict(data["customer"]))
            try:
                order = order_place(
                    customer=customer,
                    currency=data["currency"],
                    payment_method=data["payment_method"],
                    lines=[OrderLineInput(**line) for line in data["lines"]],
                    shipping_amount=data["shipping_amount"],
                    discount_amount=data["discount_amount"],
                )
            except ValueError as exc:
                raise ValidationError({"non_field_errors": [str(exc)]}) from exc
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderDetail(generics.RetrieveAPIView[Order]):
    permission_classes = [HasScope]
    required_scope = "orders:read"
    serializer_class = OrderSerializer
    queryset = Order.objects.select_related("customer").prefetch_related("lines")
    lookup_field = "number"


class UsageEventCreate(APIView):
    """POST one product-usage fact for a customer's timeline."""

    permission_classes = [HasScope]
    required_scope = "usage:write"

    @extend_schema(request=UsageEventSerializer, responses={202: None})
    def post(self, request: Request) -> Response:
        incoming = UsageEventSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        customer = (
            Customer.objects.filter(email__iexact=data["customer_email"]).order_by("id").first()
        )
        if customer is None:
            raise ValidationError({"customer_email": ["No customer has this e-mail."]})
        usage_record(
            customer=customer,
            name=data["name"],
            properties=data.get("properties") or {},
            occurred_at=data.get("occurred_at"),
        )
        return Response(status=status.HTTP_202_ACCEPTED)
