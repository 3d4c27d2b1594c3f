"""seed_scale writes valid rows: every status, unique identifiers, money in minor units,
aware times in the last two years and never in the future."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from accounts.models import Customer
from integrations.models import DomainEvent, ProviderCall, WebhookEvent
from orders.models import Order, OrderStatus
from payments.models import Payment
from shipping.models import Shipment

pytestmark = pytest.mark.django_db


def test_seed_scale_writes_valid_rows_in_every_status() -> None:
    before = timezone.now()
    call_command("seed_scale", orders=600, stdout=StringIO(), stderr=StringIO())

    assert Order.objects.count() == 600
    assert Customer.objects.count() == 120
    assert set(Order.objects.values_list("status", flat=True)) == set(OrderStatus.values)
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == set(
        WebhookEvent.Status.values
    )
    assert ProviderCall.objects.count() == 300
    assert DomainEvent.objects.count() >= 600 * 4

    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("SB-") for n in numbers)
    tracking = [t for t in Shipment.objects.values_list("tracking_code", flat=True) if t]
    assert tracking and len(set(tracking)) == len(tracking)
    for order in Order.objects.all()[:50]:
        assert order.total_amount == order.subtotal_amount + order.shipping_amount
        assert isinstance(order.total_amount, int)
        assert order.placed_at.tzinfo is not None
    latest = [
        Order.objects.latest("placed_at").placed_at,
        Payment.objects.latest("created_at").created_at,
        DomainEvent.objects.latest("occurred_at").occurred_at,
        WebhookEvent.objects.latest("received_at").received_at,
        Shipment.objects.latest("created_at").created_at,
    ]
    assert all(when <= before for when in latest)
    oldest = Order.objects.earliest("placed_at").placed_at
    assert (before - oldest).days <= 730
    # A heavy tail: the busiest customer has far more events than the median one.
    counts = sorted(
        DomainEvent.objects.values("customer").annotate(n=Count("id")).values_list("n", flat=True)
    )
    assert counts[-1] > 10 * counts[len(counts) // 2]


def test_seed_scale_adds_after_existing_rows() -> None:
    call_command("seed_scale", orders=50, stdout=StringIO(), stderr=StringIO())
    call_command("seed_scale", orders=50, seed=7, stdout=StringIO(), stderr=StringIO())
    assert Order.objects.count() == 100
    assert Customer.objects.count() == 20
