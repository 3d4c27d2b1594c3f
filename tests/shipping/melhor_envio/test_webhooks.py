"""Issue 12 items 1 and 4: Melhor Envio webhooks (X-ME-Signature, base64 and hex), order.*
events mapped to tracking facts, and the status table."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from integrations.models import WebhookEvent, WebhookRejection
from orders.models import Order
from shipping.carriers.melhor_envio.tracking import ME_STATUSES, me_status
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_purchase_label
from tests.support.fake_melhor_envio import me_time, sign

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# Every status CONTRACTS §3 lists (plugin statuses and webhook events), written out.
ME_TABLE = {
    "created": ("pre_transit", None),
    "pending": ("pre_transit", None),
    "released": ("pre_transit", None),
    "paid": ("pre_transit", None),
    "generated": ("pre_transit", None),
    "received": ("in_transit", "posted"),
    "posted": ("in_transit", "posted"),
    "delivered": ("delivered", "delivered"),
    "undelivered": ("failure", "delivery_failed"),
    "paused": ("delayed", None),
    "suspended": ("failure", None),
    "canceled": ("cancelled", None),
    "cancelled": ("cancelled", None),
    "expired": ("cancelled", None),
}


@pytest.mark.parametrize(("code", "expected"), sorted(ME_TABLE.items()))
def test_melhor_envio_status_table(code: str, expected: tuple[str, str | None]) -> None:
    assert me_status(code) == expected


def test_the_table_covers_every_contract_status_and_unknown_is_kept() -> None:
    contract = [
        "pending",
        "released",
        "paid",
        "generated",
        "posted",
        "delivered",
        "canceled",
        "undelivered",
    ]
    events = [
        "created",
        "pending",
        "released",
        "generated",
        "received",
        "posted",
        "delivered",
        "cancelled",
    ]
    events += ["undelivered", "paused", "suspended"]
    assert set(contract) | set(events) <= set(ME_STATUSES)
    assert me_status("extraviado") == ("unknown", None)


@pytest.fixture
def labelled(me_shipment: Shipment) -> Shipment:
    return shipment_purchase_label(
        shipment=me_shipment,
        tracking_code="ME00000042BR",
        provider_shipment_id="9b6f1c2e-0000-4000-8000-000000000042",
    )


def _body(shipment: Shipment, status: str, minutes: int, **extra: Any) -> dict[str, Any]:
    when = me_time(T0 + timedelta(minutes=minutes))
    field = {
        "posted": "posted_at",
        "delivered": "delivered_at",
        "generated": "generated_at",
        "undelivered": "updated_at",
        "paused": "updated_at",
    }.get(status, "updated_at")
    return {
        "event": f"order.{status}",
        "data": {
            "id": shipment.provider_shipment_id,
            "protocol": "ORD-202603020001",
            "status": status,
            "tracking": "AB123456789BR" if status in ("posted", "delivered") else None,
            "self_tracking": shipment.tracking_code,
            "tags": [{"tag": f"shipment:{shipment.pk}", "url": None}],
            field: when,
            "updated_at": when,
            **extra,
        },
    }


@pytest.mark.parametrize("encoding", ["base64", "hex"])
def test_signed_webhook_is_stored_and_applied(
    labelled: Shipment, post_me_webhook: Any, encoding: str, paid_order: Order
) -> None:
    response = post_me_webhook(_body(labelled, "posted", 1), encoding=encoding)

    assert response.status_code == 200
    [event] = WebhookEvent.objects.filter(provider="melhor-envio")
    assert event.status == "processed"
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.POSTED
    assert labelled.posted_at == T0 + timedelta(minutes=1)
    [scan] = labelled.tracking_events.all()
    assert (scan.status, scan.carrier_code, scan.carrier_message) == (
        "in_transit",
        "posted",
        "order.posted",
    )
    assert "x-me-signature" not in {k.lower() for k in event.headers}


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not-a-signature",
        sign(b"another body"),
        sign(b"{}", secret="old-app-secret-0123456789"),
    ],
)
def test_forged_or_stale_signature_is_401_and_nothing_processed(
    labelled: Shipment, post_me_webhook: Any, signature: str
) -> None:
    body = _body(labelled, "delivered", 5)
    response = post_me_webhook(body, signature=signature)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.filter(provider="melhor-envio").exists()
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.LABEL_PURCHASED
    assert not labelled.tracking_events.exists()


def test_a_signature_with_a_retired_secret_is_refused_until_listed_as_previous(
    settings: Any, labelled: Shipment, post_me_webhook: Any
) -> None:
    old = "old-app-secret-0123456789"
    assert post_me_webhook(_body(labelled, "posted", 1), secret=old).status_code == 401
    settings.MELHOR_ENVIO_CLIENT_SECRET_PREVIOUS = old
    assert post_me_webhook(_body(labelled, "posted", 1), secret=old).status_code == 200


SCANS = ["generated", "posted", "paused", "undelivered", "posted", "delivered"]


@pytest.mark.parametrize("seed", range(6))
def test_out_of_order_and_duplicated_events_end_in_the_same_state(
    labelled: Shipment, post_me_webhook: Any, paid_order: Order, seed: int
) -> None:
    bodies = [_body(labelled, status, minutes) for minutes, status in enumerate(SCANS, start=1)]
    order = list(itertools.permutations(range(len(bodies))))[seed * 97 % 720]
    for i in [*order, *order[:3]]:  # every event, then three duplicates
        assert post_me_webhook(bodies[i]).status_code == 200

    labelled.refresh_from_db()
    paid_order.refresh_from_db()
    assert labelled.status == ShipmentStatus.DELIVERED
    assert labelled.tracking_status == "delivered"
    assert labelled.delivered_at == T0 + timedelta(minutes=len(SCANS))
    assert paid_order.status == "delivered"
    assert labelled.tracking_events.count() == len(SCANS)
    assert WebhookEvent.objects.filter(provider="melhor-envio").count() == len(SCANS)


def test_unknown_event_status_is_kept_and_flagged(labelled: Shipment, post_me_webhook: Any) -> None:
    assert post_me_webhook(_body(labelled, "extraviado", 3)).status_code == 200
    [scan] = labelled.tracking_events.all()
    assert (scan.status, scan.carrier_code, scan.needs_attention) == ("unknown", "extraviado", True)


def test_malformed_body_is_400(post_me_webhook: Any) -> None:
    assert post_me_webhook(b'{"event": "order.posted"}').status_code == 400
    assert post_me_webhook(b"[1, 2]").status_code == 400
    assert not WebhookEvent.objects.exists()
