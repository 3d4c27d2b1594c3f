"""Issue 12 items 2 and 4: EasyPost ``tracker.updated`` webhooks at /webhooks/easypost/, verified
with ``X-Hmac-Signature`` (the official fixture vector, CONTRACTS §4), mapped to tracking facts,
and the status table."""

from __future__ import annotations

import itertools
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest

from integrations.models import WebhookEvent, WebhookRejection
from integrations.webhooks.registry import SignatureRejected
from orders.models import Order
from shipping.carriers.easypost.tracking import EP_DETAILS, EP_STATUSES, ep_status
from shipping.carriers.easypost.webhooks import endpoint
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_purchase_label
from tests.support.fake_easypost import ep_time, sign

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

# The official fixture (EasyPost/examples official/fixtures/event-body.json), whose compact JSON
# signed with the secret "sécret" (NFKD) gives the official vector below.
OFFICIAL_EVENT = {
    "description": "tracker.updated",
    "mode": "production",
    "previous_attributes": {"status": "in_transit"},
    "created_at": "2024-08-02T19:26:52.000Z",
    "pending_urls": ["https://example.com/easypost"],
    "completed_urls": [],
    "updated_at": "2024-08-02T19:26:52.000Z",
    "id": "evt_1",
    "user_id": "user_1",
    "status": "pending",
    "object": "Event",
    "result": {
        "id": "trk_1",
        "object": "Tracker",
        "mode": "production",
        "tracking_code": "1",
        "status": "in_transit",
        "status_detail": "arrived_at_facility",
        "created_at": "2024-07-31T14:45:27Z",
        "updated_at": "2024-08-02T19:26:51Z",
        "signed_by": None,
        "weight": 614.4,
        "est_delivery_date": "2024-08-05T00:00:00Z",
        "shipment_id": None,
        "carrier": "FedEx",
        "tracking_details": [
            {
                "object": "TrackingDetail",
                "message": "Shipment information sent to FedEx",
                "description": "Shipment information sent to FedEx",
                "status": "pre_transit",
                "status_detail": "label_created",
                "datetime": "2024-07-31T15:00:00Z",
                "source": "FedEx",
                "carrier_code": "OC",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": None,
                    "state": None,
                    "country": "US",
                    "zip": "32837",
                },
            },
            {
                "object": "TrackingDetail",
                "message": "Picked up",
                "description": "Picked up",
                "status": "in_transit",
                "status_detail": "arrived_at_facility",
                "datetime": "2024-07-31T19:27:00Z",
                "source": "FedEx",
                "carrier_code": "PU",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": "ORLANDO",
                    "state": "FL",
                    "country": "US",
                    "zip": "32809",
                },
            },
            {
                "object": "TrackingDetail",
                "message": "Arrived at FedEx location",
                "description": "Arrived at FedEx location",
                "status": "in_transit",
                "status_detail": "arrived_at_facility",
                "datetime": "2024-07-31T22:35:00Z",
                "source": "FedEx",
                "carrier_code": "AR",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": "ORLANDO",
                    "state": "FL",
                    "country": "US",
                    "zip": "32809",
                },
            },
            {
                "object": "TrackingDetail",
                "message": "Departed FedEx location",
                "description": "Departed FedEx location",
                "status": "in_transit",
                "status_detail": "departed_facility",
                "datetime": "2024-08-01T14:42:13Z",
                "source": "FedEx",
                "carrier_code": "DP",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": "ORLANDO",
                    "state": "FL",
                    "country": "US",
                    "zip": "32809",
                },
            },
            {
                "object": "TrackingDetail",
                "message": "On the way",
                "description": "On the way",
                "status": "in_transit",
                "status_detail": "unknown",
                "datetime": "2024-08-02T02:46:19Z",
                "source": "FedEx",
                "carrier_code": "IT",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": "KENLY",
                    "state": "NC",
                    "country": "US",
                    "zip": "27542",
                },
            },
            {
                "object": "TrackingDetail",
                "message": "On the way",
                "description": "On the way",
                "status": "in_transit",
                "status_detail": "unknown",
                "datetime": "2024-08-02T18:35:20Z",
                "source": "FedEx",
                "carrier_code": "IT",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": "EDISON TWP",
                    "state": "NJ",
                    "country": "US",
                    "zip": "08817",
                },
            },
            {
                "object": "TrackingDetail",
                "message": "Arrived at FedEx location",
                "description": "Arrived at FedEx location",
                "status": "in_transit",
                "status_detail": "arrived_at_facility",
                "datetime": "2024-08-02T18:50:00Z",
                "source": "FedEx",
                "carrier_code": "AR",
                "tracking_location": {
                    "object": "TrackingLocation",
                    "city": "EDISON",
                    "state": "NJ",
                    "country": "US",
                    "zip": "08817",
                },
            },
        ],
        "carrier_detail": {
            "object": "CarrierDetail",
            "service": "FEDEX_GROUND",
            "container_type": None,
            "est_delivery_date_local": "2024-08-05",
            "est_delivery_time_local": None,
            "origin_location": "ORLANDO FL US",
            "origin_tracking_location": {
                "object": "TrackingLocation",
                "city": "ORLANDO",
                "state": "FL",
                "country": "US",
                "zip": "32809",
            },
            "destination_location": "BROOKLYN HGTS NY US",
            "destination_tracking_location": None,
            "guaranteed_delivery_date": None,
            "alternate_identifier": None,
            "initial_delivery_attempt": None,
        },
        "finalized": False,
        "is_return": False,
        "public_url": "https://track.easypost.com/1",
    },
}
OFFICIAL_SECRET = "sécret"
OFFICIAL_SIGNATURE = (
    "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db"
)


def _compact(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def test_the_official_fixture_vector() -> None:
    body = _compact(OFFICIAL_EVENT)
    assert len(body) == 3550
    assert sign(body, secret=OFFICIAL_SECRET) == OFFICIAL_SIGNATURE


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_the_endpoint_verifies_the_official_vector_with_the_nfkd_secret(
    settings: Any, form: Literal["NFC", "NFD"]
) -> None:
    settings.EASYPOST_WEBHOOK_SECRET = unicodedata.normalize(form, OFFICIAL_SECRET)
    body = _compact(OFFICIAL_EVENT)

    endpoint.verify(headers={"X-Hmac-Signature": OFFICIAL_SIGNATURE}, body=body)
    with pytest.raises(SignatureRejected, match="Wrong"):
        endpoint.verify(headers={"X-Hmac-Signature": OFFICIAL_SIGNATURE}, body=body + b" ")


# Every status CONTRACTS §4 lists, and the status_detail pairs the table refines, written out.
EP_TABLE = {
    ("pre_transit", ""): ("pre_transit", None),
    ("pre_transit", "label_created"): ("pre_transit", None),
    ("in_transit", ""): ("in_transit", "in_transit"),
    ("in_transit", "arrived_at_facility"): ("in_transit", "in_transit"),
    ("in_transit", "departed_facility"): ("in_transit", "in_transit"),
    ("in_transit", "delayed"): ("delayed", None),
    ("in_transit", "weather_delay"): ("delayed", None),
    ("in_transit", "return"): ("return_to_sender", "returned"),
    ("in_transit", "lost"): ("lost", "lost"),
    ("out_for_delivery", "out_for_delivery"): ("out_for_delivery", "out_for_delivery"),
    ("delivered", "arrived_at_destination"): ("delivered", "delivered"),
    ("available_for_pickup", "arrived_at_pickup_location"): (
        "available_for_pickup",
        "available_for_pickup",
    ),
    ("return_to_sender", "return"): ("return_to_sender", "returned"),
    ("failure", "delivery_exception"): ("failure", "delivery_failed"),
    ("failure", "lost"): ("lost", "lost"),
    ("cancelled", "cancelled"): ("cancelled", None),
    ("error", ""): ("unknown", None),
    ("unknown", "unknown"): ("unknown", None),
    ("unknown", "lost"): ("lost", "lost"),
}


@pytest.mark.parametrize(("code", "expected"), sorted(EP_TABLE.items()))
def test_easypost_status_table(code: tuple[str, str], expected: tuple[str, str | None]) -> None:
    assert ep_status(*code) == expected


def test_the_table_covers_every_contract_status_and_unknown_is_kept() -> None:
    contract = [
        "unknown",
        "pre_transit",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "available_for_pickup",
        "return_to_sender",
        "failure",
        "cancelled",
        "error",
    ]
    assert set(contract) == set(EP_STATUSES)
    assert {status for status, _ in EP_TABLE} == set(EP_STATUSES)
    assert set(EP_DETAILS) <= set(EP_TABLE)
    assert ep_status("teleported", "beamed_up") == ("unknown", None)


@pytest.fixture
def labelled(ep_shipment: Shipment) -> Shipment:
    return shipment_purchase_label(
        shipment=ep_shipment,
        tracking_code="EZ1000000001",
        provider_shipment_id="shp_0123456789abcdef0123456789abcdef",
        label_url="https://easypost-files.example/files/postage_label/EZ1000000001.png",
    )


def _scan(status: str, detail: str, minutes: int, city: str = "ORLANDO") -> dict[str, Any]:
    return {
        "object": "TrackingDetail",
        "message": f"{status} {detail}".strip(),
        "description": "",
        "status": status,
        "status_detail": detail or None,
        "datetime": ep_time(T0 + timedelta(minutes=minutes)),
        "source": "USPS",
        "carrier_code": "",
        "tracking_location": {
            "object": "TrackingLocation",
            "city": city,
            "state": "FL",
            "country": "US",
            "zip": "32809",
        },
    }


def _event(shipment: Shipment, scans: list[dict[str, Any]], number: int) -> dict[str, Any]:
    latest = scans[-1]
    when = latest["datetime"]
    return {
        "id": f"evt_{number:032x}",
        "object": "Event",
        "description": "tracker.updated",
        "mode": "test",
        "status": "pending",
        "previous_attributes": {},
        "created_at": when,
        "updated_at": when,
        "result": {
            "id": "trk_0123456789abcdef0123456789abcdef",
            "object": "Tracker",
            "mode": "test",
            "tracking_code": shipment.tracking_code,
            "status": latest["status"],
            "status_detail": latest["status_detail"],
            "carrier": "USPS",
            "shipment_id": shipment.provider_shipment_id,
            "updated_at": when,
            "tracking_details": scans,
        },
    }


def test_signed_webhook_is_stored_and_every_scan_applied(
    labelled: Shipment, post_ep_webhook: Any
) -> None:
    scans = [
        _scan("pre_transit", "label_created", 1),
        _scan("in_transit", "arrived_at_facility", 9),
    ]
    response = post_ep_webhook(_event(labelled, scans, 1))

    assert response.status_code == 200
    [event] = WebhookEvent.objects.filter(provider="easypost")
    assert (event.status, event.event_id, event.event_type) == (
        "processed",
        f"evt_{1:032x}",
        "tracker.updated",
    )
    assert "x-hmac-signature" not in {k.lower() for k in event.headers}
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.IN_TRANSIT
    assert labelled.tracking_status == "in_transit"
    last = labelled.tracking_events.order_by("occurred_at").last()
    assert last is not None
    assert (last.status, last.carrier_code, last.location) == (
        "in_transit",
        "in_transit/arrived_at_facility",
        "ORLANDO, FL, US 32809",
    )
    assert labelled.tracking_events.count() == 2


def test_the_official_fixture_posted_to_the_endpoint_is_applied(
    settings: Any, ep_shipment: Shipment, post_ep_webhook: Any
) -> None:
    settings.EASYPOST_WEBHOOK_SECRET = OFFICIAL_SECRET
    shipment = shipment_purchase_label(
        shipment=ep_shipment, tracking_code="1", provider_shipment_id="shp_1"
    )  # the fixture's tracker has no shipment id: found by its tracking code

    response = post_ep_webhook(_compact(OFFICIAL_EVENT), signature=OFFICIAL_SIGNATURE)

    assert response.status_code == 200
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    assert shipment.last_tracking_at == datetime(2024, 8, 2, 18, 50, tzinfo=UTC)
    assert shipment.tracking_events.count() == 7
    first = shipment.tracking_events.order_by("occurred_at").first()
    assert first is not None and first.location == "US 32837"


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "hmac-sha256-hex=deadbeef",
        "38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db",
        sign(b"another body"),
        sign(b"{}", secret="a-retired-webhook-secret-0001"),
        "hmac-sha256-hex=" + "0" * 300,
    ],
)
def test_forged_or_stale_signature_is_401_and_nothing_processed(
    labelled: Shipment, post_ep_webhook: Any, signature: str
) -> None:
    body = _event(labelled, [_scan("delivered", "arrived_at_destination", 5)], 1)
    response = post_ep_webhook(body, signature=signature)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.filter(provider="easypost").exists()
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.LABEL_PURCHASED
    assert not labelled.tracking_events.exists()


def test_a_retired_secret_is_refused_until_listed_as_previous(
    settings: Any, labelled: Shipment, post_ep_webhook: Any
) -> None:
    old = "a-retired-webhook-secret-0001"
    body = _event(labelled, [_scan("in_transit", "", 1)], 1)
    assert post_ep_webhook(body, secret=old).status_code == 401
    settings.EASYPOST_WEBHOOK_SECRET_PREVIOUS = old
    assert post_ep_webhook(body, secret=old).status_code == 200
    assert WebhookEvent.objects.get().status == "processed"


SCANS = [
    ("pre_transit", "label_created"),
    ("in_transit", "arrived_at_facility"),
    ("in_transit", "weather_delay"),
    ("failure", "delivery_exception"),
    ("out_for_delivery", "out_for_delivery"),
    ("delivered", "arrived_at_destination"),
]


@pytest.mark.parametrize("cumulative", [True, False], ids=["whole-history", "one-scan-each"])
@pytest.mark.parametrize("seed", range(4))
def test_out_of_order_and_duplicated_events_end_in_the_same_state(
    labelled: Shipment, post_ep_webhook: Any, paid_order: Order, seed: int, cumulative: bool
) -> None:
    scans = [_scan(status, detail, m) for m, (status, detail) in enumerate(SCANS, start=1)]
    bodies = [
        _event(labelled, scans[: i + 1] if cumulative else [scans[i]], i + 1)
        for i in range(len(scans))
    ]
    order = list(itertools.permutations(range(len(bodies))))[seed * 131 % 720]
    for i in [*order, *order[:3]]:  # every event, then three duplicates
        assert post_ep_webhook(bodies[i]).status_code == 200

    labelled.refresh_from_db()
    paid_order.refresh_from_db()
    assert labelled.status == ShipmentStatus.DELIVERED
    assert labelled.tracking_status == "delivered"
    assert labelled.delivered_at == T0 + timedelta(minutes=len(SCANS))
    assert paid_order.status == "delivered"
    assert labelled.tracking_events.count() == len(SCANS)
    assert WebhookEvent.objects.filter(provider="easypost", status="processed").count() == len(
        SCANS
    )


def test_unknown_status_is_kept_and_flagged(labelled: Shipment, post_ep_webhook: Any) -> None:
    body = _event(labelled, [_scan("teleported", "beamed_up", 3)], 1)
    assert post_ep_webhook(body).status_code == 200
    [scan] = labelled.tracking_events.all()
    assert (scan.status, scan.carrier_code, scan.needs_attention) == (
        "unknown",
        "teleported/beamed_up",
        True,
    )
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.LABEL_PURCHASED


def test_other_event_types_are_stored_as_ignored(post_ep_webhook: Any) -> None:
    body = {"id": "evt_batch_1", "object": "Event", "description": "batch.updated", "result": {}}
    assert post_ep_webhook(body).status_code == 200
    assert WebhookEvent.objects.get().status == "ignored"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"object": "Event", "description": "tracker.updated"}',
        b'{"id": "evt_1", "object": "Event", "description": "tracker.updated"}',
        b'{"id": "evt_1", "object": "Event", "description": "tracker.updated",'
        b' "result": {"object": "Tracker", "tracking_code": ""}}',
        b'{"id": "evt_1", "object": "Event", "description": "tracker.updated",'
        b' "result": {"object": "Tracker", "tracking_code": "EZ1", "tracking_details": {}}}',
    ],
)
def test_malformed_body_is_400_and_nothing_stored(post_ep_webhook: Any, body: bytes) -> None:
    assert post_ep_webhook(body).status_code == 400
    assert not WebhookEvent.objects.exists()
