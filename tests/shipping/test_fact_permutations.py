"""The shipping family's fact pipeline: any permutation of a carrier's tracking scans, with
duplicates, ends where the newest scan says.

The scans are a timeline Hypothesis draws along the transitions map (posted, in transit, out for
delivery, failed attempts, back in transit, ..., delivered or returned), each a signed-shape
sandbox-shipping body read by the endpoint's own ``parse`` and run through its handler, which maps
it to a ``TrackingFact`` that ``tracking_fact_apply`` applies.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from orders.models import OrderStatus
from shipping.carriers.sandbox.webhooks import endpoint
from shipping.models import SHIPMENT_TRANSITIONS, TRACKING_STATUSES, Shipment, ShipmentStatus
from shipping.services import shipment_create, shipment_purchase_label
from tests.factories import make_paid_payment

pytestmark = pytest.mark.django_db
S = ShipmentStatus
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


@st.composite
def timelines(draw: st.DrawFn) -> list[str]:
    """A carrier's scans in the order they happened: a walk along the map from a bought label."""
    scans: list[str] = []
    current: str = S.LABEL_PURCHASED
    for _ in range(draw(st.integers(1, 6))):
        nexts = sorted(SHIPMENT_TRANSITIONS[current] & TRACKING_STATUSES)
        if not nexts:
            break
        current = draw(st.sampled_from(nexts))
        scans.append(current)
    return scans


def _deliver(shipment: Shipment, status: str, minutes: int) -> None:
    data = {
        "reference": f"shipment:{shipment.pk}",
        "tracking_code": shipment.tracking_code,
        "status": status,
        "location": f"hub {minutes}",
    }
    body = {"type": "tracking.updated", "timestamp": (T0 + timedelta(minutes=minutes)).isoformat()}
    raw = json.dumps(body | {"data": data}).encode()
    parsed = endpoint.parse(headers={"webhook-id": f"msg_{next(_ids)}"}, body=raw)
    handler = endpoint.handler_for(parsed.event_type)
    assert handler is not None
    event = WebhookEvent(provider=endpoint.name, event_id=parsed.event_id, event_type="x")
    with transaction.atomic():
        handler(event, parsed)


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.generate],
)
@given(scans=timelines(), data=st.data())
# Returned after a failed attempt, the failed one late: returned straight from posted.
@example(scans=[S.POSTED, S.DELIVERY_FAILED, S.RETURNED], data=None)
# A second failed attempt after going back out: the repeated status is the newest word.
@example(scans=[S.DELIVERY_FAILED, S.IN_TRANSIT, S.DELIVERY_FAILED], data=None)
def test_any_order_of_tracking_scans_ends_where_the_newest_says(
    scans: list[str], data: st.DataObject | None
) -> None:
    order = make_paid_payment().order
    shipment = shipment_create(order=order, carrier="sandbox")
    shipment = shipment_purchase_label(shipment=shipment, tracking_code=f"BR{shipment.pk:09d}X")
    if data is None:  # the explicit examples: newest first, then the rest oldest first
        sequence = [len(scans) - 1, *range(len(scans))]
    else:
        repeats = data.draw(st.lists(st.sampled_from(range(len(scans))), max_size=4))
        sequence = data.draw(st.permutations([*range(len(scans)), *repeats]))
    for i in sequence:
        _deliver(shipment, scans[i], i + 1)

    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == scans[-1]
    assert shipment.last_tracking_at == T0 + timedelta(minutes=len(scans))
    posted = [i + 1 for i, s in enumerate(scans) if s == S.POSTED]
    assert shipment.posted_at == (T0 + timedelta(minutes=posted[0]) if posted else None)
    delivered = scans[-1] == S.DELIVERED
    assert shipment.delivered_at == (shipment.last_tracking_at if delivered else None)
    assert order.status == (OrderStatus.DELIVERED if delivered else OrderStatus.SHIPPED)


@pytest.mark.parametrize(
    "sequence",
    [
        [S.POSTED, S.DELIVERED],
        [S.DELIVERED, S.POSTED],
        [S.POSTED, S.DELIVERED, S.POSTED],
    ],
)
def test_scans_of_the_same_instant_end_at_the_one_ahead_in_either_order(
    sequence: list[str],
) -> None:
    """Posted and delivered stamped in the same second (a courier scanning twice at the door)
    end delivered whichever arrives first: the later one along a one-way move wins a tie."""
    order = make_paid_payment().order
    shipment = shipment_create(order=order, carrier="sandbox")
    shipment = shipment_purchase_label(shipment=shipment, tracking_code=f"BR{shipment.pk:09d}X")
    for status in sequence:
        _deliver(shipment, status, 5)

    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == S.DELIVERED
    assert shipment.last_tracking_at == T0 + timedelta(minutes=5)
    assert order.status == OrderStatus.DELIVERED
