"""Customers API for the business's product: a customer's context."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access.api_keys import HasScope
from accounts.customers.summary import customer_summary
from accounts.models import Customer
from integrations.api_errors import PROBLEM_CONTENT_TYPE, ProblemSerializer

_EXAMPLE: dict[str, Any] = {
    "customer": {"id": 42, "name": "Ana Souza", "email": "ana@example.com", "created_at": "…"},
    "consent": {
        "email": {"state": "unknown", "since": None},
        "whatsapp": {"state": "opted_out", "since": "2026-01-02T10:00:00+00:00"},
    },
    "orders": {
        "count": 3,
        "by_status": {"cancelled": 1, "delivered": 2},
        "lifetime_value": [{"currency": "BRL", "amount": 25980, "orders": 2}],
        "last_order": {
            "number": "SB-000123",
            "status": "delivered",
            "total_amount": 12990,
            "currency": "BRL",
            "placed_at": "2026-01-01T12:00:00+00:00",
        },
    },
    "payments": {
        "payments_by_status": {"succeeded": 2, "failed": 1},
        "open_refunds": {"count": 1, "amounts": [{"currency": "BRL", "amount": 1000}]},
        "open_disputes": {"count": 0, "amounts": []},
    },
    "shipments": {"in_transit_count": 0, "in_transit": []},
    "usage": {
        "first_seen_at": "2025-12-01T09:00:00+00:00",
        "last_seen_at": "2026-01-03T18:00:00+00:00",
        "active_days_7": 3,
        "active_days_30": 11,
    },
}


class CustomerContext(APIView):
    """The summary the customer page header shows: orders (count, per status, lifetime value per
    currency in minor units, last order), payment states, open refunds and disputes, shipments in
    transit, last seen and active days (7 and 30), consent per channel. A fixed number of queries
    whatever the customer's history. 404 for an unknown customer."""

    permission_classes = [HasScope]
    required_scope = "customers:read"

    @extend_schema(
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Money as integer minor units next to its currency; times ISO 8601 UTC.",
                examples=[OpenApiExample("A customer", value=_EXAMPLE)],
            ),
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="No customer with this id."
            ),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        customer = get_object_or_404(Customer.objects.select_related("crm_record"), pk=pk)
        return Response(customer_summary(customer=customer))
