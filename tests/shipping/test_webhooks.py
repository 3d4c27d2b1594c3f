from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.facts import ObjectNotReady
from integrations.models import DomainEvent
from integrations.sandbox import SandboxEvent
from integrations.webhooks.registry import SignatureRejected, get_webhook_endpoint
from orders.models import Order, OrderStatus
from shipping.carriers.base import LabelRequest
from shipping.carriers.sandbox.adapter import SandboxCarrier
from shipping.carriers.sandbox.webhooks import endpoint
from shipping.exceptions import TrackingCodeMismatch
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_cancel, shipment_create, shipment_purchase_label
from tests.support.shipping import EmitRecorder, deliver, deliver_event, signed


def _labelled(order: Order, emitted: EmitRecorder) -> tuple[Shipment, list[SandboxEvent]]:
    """A shipment with its sandbox label, and the four tracking facts the carrier emitted."""
    shipment = shipment_create(order=order, carrier="sandbox", service="economy")
    label = SandboxCarrier().buy_label(
        request=LabelRequest(
            reference=f"shipment:{shipment.pk}",
            service="economy",
            order_number=order.number,
            items=1,
            declared_amount=order.total_amount,
            currency=order.currency,
        )
    )
    shipment = shipment_purchase_label(
        shipment=shipment,
        tracking_code=label.tracking_code,
        provider_shipment_id=label.provider_shipment_id,
        label_url=label.label_url,
    )
    return shipment, emitted.calls[-1][1]


def _tracking_events(shipment: Shipment, type_: str) -> int:
    return DomainEvent.objects.filter(type=type_, subject_id=str(shipment.pk)).count()


def test_the_endpoint_is_registered_when_the_sandbox_is_enabled() -> None:
    assert get_webhook_endpoint("sandbox-shipping") is endpoint
    assert endpoint.handler_for("tracking.updated") is not None
    assert endpoint.handler_for("label.voided") is None  # stored as ignored


def test_a_signed_tracking_fact_moves_the_shipment(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    shipment, events = _labelled(paid_order, emitted)

    outcome = deliver_event(endpoint, events[0])

    assert outcome is not None and list(outcome.affected) == [shipment]
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.POSTED
    assert shipment.posted_at == events[0].occurred_at
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.SHIPPED
    posted = DomainEvent.objects.get(type="shipment.posted", subject_id=str(shipment.pk))
    assert posted.data["location"] == events[0].data["location"]


def test_parse_reads_the_tracking_code_as_object_id(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    shipment, events = _labelled(paid_order, emitted)
    headers, body = signed(
        event_type=events[0].type, data=events[0].data, occurred_at=events[0].occurred_at
    )

    parsed = endpoint.parse(headers=headers, body=body)

    assert parsed.object_id == shipment.tracking_code
    assert parsed.occurred_at == events[0].occurred_at


def test_a_forged_signature_is_rejected_and_nothing_moves(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    shipment, events = _labelled(paid_order, emitted)
    headers, body = signed(
        event_type="tracking.updated",
        data={**events[3].data},
        occurred_at=events[3].occurred_at,
    )
    tampered = body.replace(b'"delivered"', b'"returned"')

    with pytest.raises(SignatureRejected):
        deliver(endpoint, headers, tampered)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED


@pytest.mark.parametrize("order_of_arrival", list(itertools.permutations(range(4))))
def test_every_arrival_order_ends_delivered(
    paid_order: Order, emitted: EmitRecorder, order_of_arrival: tuple[int, ...]
) -> None:
    shipment, events = _labelled(paid_order, emitted)

    for index in order_of_arrival:
        deliver_event(endpoint, events[index])

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.delivered_at == events[3].occurred_at
    assert shipment.last_tracking_at == events[3].occurred_at
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.DELIVERED
    assert _tracking_events(shipment, "shipment.delivered") == 1


def test_a_duplicate_delivery_is_a_no_op(paid_order: Order, emitted: EmitRecorder) -> None:
    shipment, events = _labelled(paid_order, emitted)
    headers, body = signed(
        event_type=events[1].type, data=events[1].data, occurred_at=events[1].occurred_at
    )

    deliver(endpoint, headers, body)
    deliver(endpoint, headers, body)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert _tracking_events(shipment, "shipment.in_transit") == 1


def test_a_fact_before_the_label_is_not_ready_then_applies_on_retry(paid_order: Order) -> None:
    shipment = shipment_create(order=paid_order, carrier="sandbox", service="economy")
    tracking_code = "SB123456789BR"
    at = timezone.now()
    headers, body = signed(
        event_type="tracking.updated",
        data={
            "reference": f"shipment:{shipment.pk}",
            "tracking_code": tracking_code,
            "status": "posted",
            "location": "Sao Paulo, SP",
            "description": "Parcel posted",
        },
        occurred_at=at,
    )

    with pytest.raises(ObjectNotReady):
        deliver(endpoint, headers, body)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PENDING
    assert _tracking_events(shipment, "shipment.posted") == 0

    shipment_purchase_label(shipment=shipment, tracking_code=tracking_code)
    deliver(endpoint, headers, body)  # the inbox's retry of the same delivery
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.POSTED


def test_a_fact_about_an_unknown_shipment_is_not_ready(db: None) -> None:
    headers, body = signed(
        event_type="tracking.updated",
        data={"reference": "shipment:999999", "tracking_code": "SB1BR", "status": "posted"},
        occurred_at=timezone.now(),
    )

    with pytest.raises(ObjectNotReady):
        deliver(endpoint, headers, body)


def test_a_fact_with_another_tracking_code_is_flagged_not_applied(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    shipment, events = _labelled(paid_order, emitted)
    headers, body = signed(
        event_type="tracking.updated",
        data={**events[3].data, "tracking_code": "SB000000001BR"},
        occurred_at=events[3].occurred_at,
    )

    with pytest.raises(TrackingCodeMismatch, match="SB000000001BR"):
        deliver(endpoint, headers, body)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert _tracking_events(shipment, "shipment.delivered") == 0


def test_tracking_for_a_cancelled_shipment_is_dropped(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    shipment, events = _labelled(paid_order, emitted)
    shipment_cancel(shipment=shipment, reason="Address was wrong")

    outcome = deliver_event(endpoint, events[0])

    assert outcome is not None
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    assert _tracking_events(shipment, "shipment.posted") == 0


def test_a_fact_older_than_the_watermark_never_moves_back(
    paid_order: Order, emitted: EmitRecorder
) -> None:
    shipment, events = _labelled(paid_order, emitted)
    deliver_event(endpoint, events[2])  # out for delivery

    late = SandboxEvent(
        "tracking.updated",
        {**events[1].data},
        events[2].occurred_at - timedelta(milliseconds=1),
    )
    deliver_event(endpoint, late)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.OUT_FOR_DELIVERY
    assert _tracking_events(shipment, "shipment.in_transit") == 0
