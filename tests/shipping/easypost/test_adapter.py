"""Issue 12 item 2: EasyPost through its official SDK, its HTTP through the shared outbound
client: shipments with rates, buying a rate, the label, refund (void) and trackers, against the
local fake server (tests/support/fake_easypost.py)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.utils import timezone

from integrations.exceptions import CircuitOpen, ProviderRejected, ProviderUnavailable
from integrations.models import ProviderCall
from orders.models import Order
from shipping.carriers.base import Parcel, QuoteRequest
from shipping.carriers.easypost.adapter import (
    EasyPostCarrier,
    inches,
    ounces,
    parcel_body,
    to_minor,
)
from shipping.carriers.easypost.client import EasyPostGateway
from shipping.models import Shipment, ShipmentStatus
from shipping.services import shipment_purchase_label
from shipping.workflows import (
    shipment_refresh_tracking,
    shipment_start_for_order,
    shipment_void_label,
)
from tests.factories import make_paid_payment
from tests.shipping.easypost.conftest import label_request
from tests.support.fake_easypost import API_KEY, FakeEasyPost

pytestmark = pytest.mark.django_db(transaction=True)


def _quote_request(**kw: Any) -> QuoteRequest:
    return QuoteRequest(
        **{
            "reference": "order:1",
            "order_number": "SB-000001",
            "items": 2,
            "declared_amount": 15000,
            "currency": "USD",
            "destination_postal_code": "93711",
            "parcels": (Parcel(1250, 305, 200, 95, items=2, declared_amount=15000),),
            **kw,
        }
    )


def test_units_are_converted_at_the_edge() -> None:
    # 1250 g = 44.09 oz; 305 mm = 12.008 in; 200 mm = 7.87 in; 95 mm = 3.74 in (up to a tenth)
    assert parcel_body(Parcel(1250, 305, 200, 95)) == {
        "length": 12.1,
        "width": 7.9,
        "height": 3.8,
        "weight": 44.1,
    }
    assert ounces(1) == 0.1 and inches(0) == 0.1  # never a zero EasyPost refuses
    assert ounces(28_350) == 1000.1 and inches(254) == 10.0


def test_decimal_prices_become_minor_units_rounded_up() -> None:
    assert to_minor(Decimal("10.39"), "USD") == 1039
    assert to_minor(Decimal("10.391"), "USD") == 1040
    assert to_minor(Decimal("1200"), "JPY") == 1200


def test_quote_creates_a_shipment_in_inches_and_ounces_and_answers_its_rates(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier
) -> None:
    quotes = carrier.quote(request=_quote_request())

    assert [(q.service, q.days, q.currency) for q in quotes] == [
        ("USPS GroundAdvantage", 5, "USD"),
        ("USPS Priority", 2, "USD"),
        ("UPS Ground", 4, "USD"),
    ]
    assert quotes[0].amount == 1039  # "10.39": 5.10 + 0.12 x 44.1 oz
    [sent] = fake_ep.requests_to("POST", "/shipments")
    body = json.loads(sent.raw)["shipment"]
    assert body["reference"] == "order:1"
    assert body["parcel"] == {"length": 12.1, "width": 7.9, "height": 3.8, "weight": 44.1}
    assert body["to_address"] == {"zip": "93711", "country": "US"}
    assert body["from_address"]["street1"] == "417 Montgomery St"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"  # the SDK's scheme


def test_quote_carriers_setting_and_refusals(
    settings: Any, fake_ep: FakeEasyPost, carrier: EasyPostCarrier
) -> None:
    settings.EASYPOST_CARRIERS = "ups"
    assert [q.service for q in carrier.quote(request=_quote_request())] == ["UPS Ground"]
    with pytest.raises(ProviderRejected):
        carrier.quote(request=_quote_request(destination_postal_code=""))
    settings.EASYPOST_FROM_ZIP = ""
    with pytest.raises(ProviderRejected) as info:  # the fake refuses an address without a zip
        carrier.quote(request=_quote_request())
    assert info.value.status_code == 422
    assert "ADDRESS.INVALID" in str(info.value)


def test_the_fake_refuses_an_invalid_parcel_and_a_call_without_the_key(
    fake_ep: FakeEasyPost,
) -> None:
    gateway = EasyPostGateway.from_settings()
    address = {"zip": "94104", "street1": "417 Montgomery St", "city": "San Francisco"}
    with pytest.raises(ProviderRejected) as info:
        gateway.create_shipment(
            reference="order:9", from_address=address, to_address=address, parcel={"weight": 0}
        )
    assert info.value.status_code == 422 and "PARCEL.INVALID" in str(info.value)
    assert not fake_ep.shipments

    anonymous = requests.post(f"{fake_ep.url}/shipments", json={}, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "APIKEY.REQUIRED"
    basic = base64.b64encode(f"{API_KEY}:".encode()).decode()  # the documented Basic scheme
    documented = requests.get(
        f"{fake_ep.url}/trackers", headers={"Authorization": f"Basic {basic}"}, timeout=5
    )
    assert documented.status_code == 200


def test_every_sdk_call_goes_through_the_ledger_and_the_key_never_reaches_it(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier, json_log: Any
) -> None:
    carrier.quote(request=_quote_request())

    [call] = ProviderCall.objects.filter(provider="easypost")
    assert (call.operation, call.method, call.status_code) == ("quote", "POST", 201)
    assert call.url == f"{fake_ep.url}/shipments"
    assert API_KEY not in json_log.getvalue()
    assert API_KEY not in f"{call.url} {call.error}"


def _buy(carrier: EasyPostCarrier, shipment: Shipment) -> Shipment:
    label = carrier.buy_label(request=label_request(shipment, shipment.order))
    return shipment_purchase_label(
        shipment=shipment,
        tracking_code=label.tracking_code,
        provider_shipment_id=label.provider_shipment_id,
        label_url=label.label_url,
    )


def test_label_purchase_end_to_end(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    shipment = _buy(carrier, ep_shipment)

    assert fake_ep.labels_bought == 1
    [bought] = fake_ep.shipments.values()
    assert bought["reference"] == f"shipment:{ep_shipment.pk}"
    assert (bought["selected_rate"]["carrier"], bought["selected_rate"]["service"]) == (
        "USPS",
        "Priority",
    )
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert shipment.tracking_code == bought["tracking_code"]
    assert shipment.provider_shipment_id == bought["id"]
    assert shipment.label_url == bought["postage_label"]["label_url"]
    to = json.loads(fake_ep.requests_to("POST", "/shipments")[0].raw)["shipment"]["to_address"]
    assert (to["street1"], to["city"], to["state"], to["zip"]) == (
        "179 E Bullard Ave",
        "Fresno",
        "CA",
        "93711",
    )
    routes = [(s.method, s.path.removeprefix("/v2")) for s in fake_ep.seen]
    assert routes == [
        ("GET", f"/shipments/shipment%3A{ep_shipment.pk}"),  # looked up by reference first
        ("POST", "/shipments"),
        ("POST", f"/shipments/{bought['id']}/buy"),
    ]


def test_a_service_the_shipment_does_not_offer_is_refused_without_buying(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    request = label_request(ep_shipment, ep_shipment.order, service="FedEx Overnight")
    with pytest.raises(ProviderRejected, match="no rate"):
        carrier.buy_label(request=request)
    assert fake_ep.labels_bought == 0


def test_an_address_the_carrier_cannot_use_is_refused(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    request = label_request(
        ep_shipment, ep_shipment.order, destination_street="", destination_number=""
    )
    with pytest.raises(ProviderRejected) as info:
        carrier.buy_label(request=request)
    assert info.value.status_code == 422
    assert fake_ep.labels_bought == 0


@pytest.mark.parametrize(
    ("path_route", "fault"),
    [
        ("/shipments/*/buy", "500"),
        ("/shipments/*/buy", "500_after_apply"),
        ("/shipments/*/buy", "timeout"),
        ("/shipments/*/buy", "timeout_after_apply"),
        ("/shipments", "500_after_apply"),
        ("/shipments", "timeout_after_apply"),
        ("/shipments", "timeout"),
    ],
)
def test_a_carrier_5xx_or_timeout_on_purchase_buys_exactly_one_label(
    fake_ep: FakeEasyPost,
    carrier: EasyPostCarrier,
    ep_shipment: Shipment,
    path_route: str,
    fault: str,
) -> None:
    fake_ep.fail("POST", path_route, fault)
    request = label_request(ep_shipment, ep_shipment.order)
    try:
        label = carrier.buy_label(request=request)
    except ProviderUnavailable:
        label = carrier.buy_label(request=request)  # the task's retry
    again = carrier.buy_label(request=request)  # and a redelivery after success

    assert fake_ep.labels_bought == 1
    assert len(fake_ep.shipments) == 1  # one EasyPost shipment too
    assert label == again
    [bought] = [s for s in fake_ep.shipments.values() if s["postage_label"]]
    assert label.provider_shipment_id == bought["id"]
    assert label.tracking_code == bought["tracking_code"]
    # A POST that may have been applied is never sent twice by the client.
    assert len(fake_ep.requests_to("POST", "/shipments/*/buy")) <= 2


def test_an_open_breaker_sends_nothing(
    settings: Any, fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    settings.CIRCUIT_BREAKER_MIN_CALLS = 2
    fake_ep.fail("GET", "/shipments/*", "500", "500", "500", "500", "500", "500")
    request = label_request(ep_shipment, ep_shipment.order)
    with pytest.raises(ProviderUnavailable):
        carrier.buy_label(request=request)
    sent = len(fake_ep.seen)

    with pytest.raises(CircuitOpen):
        carrier.buy_label(request=request)

    assert len(fake_ep.seen) == sent
    assert fake_ep.labels_bought == 0


def test_void_refunds_the_label_and_cancels_the_shipment(
    settings: Any, fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    settings.SHIPPING_CARRIER = "easypost"
    shipment = _buy(carrier, ep_shipment)

    shipment = shipment_void_label(shipment_id=shipment.pk, reason="Customer cancelled")

    assert shipment.status == ShipmentStatus.CANCELLED
    assert fake_ep.shipments[shipment.provider_shipment_id]["refund_status"] == "submitted"
    carrier.void_label(provider_shipment_id=shipment.provider_shipment_id)  # idempotent
    assert len(fake_ep.requests_to("POST", "/shipments/*/refund")) == 1  # asked once


def test_a_refund_timeout_is_answered_by_reading_the_shipment(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    shipment = _buy(carrier, ep_shipment)
    fake_ep.fail("POST", "/shipments/*/refund", "timeout_after_apply")

    with pytest.raises(ProviderUnavailable):
        carrier.void_label(provider_shipment_id=shipment.provider_shipment_id)
    carrier.void_label(provider_shipment_id=shipment.provider_shipment_id)  # the retry

    assert fake_ep.shipments[shipment.provider_shipment_id]["refund_status"] == "submitted"
    assert len(fake_ep.requests_to("POST", "/shipments/*/refund")) == 1


def test_void_of_a_scanned_parcel_is_refused_and_changes_nothing(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier, ep_shipment: Shipment
) -> None:
    shipment = _buy(carrier, ep_shipment)
    fake_ep.scan(shipment.tracking_code, "in_transit", "arrived_at_facility", when=timezone.now())

    with pytest.raises(ProviderRejected):
        carrier.void_label(provider_shipment_id=shipment.provider_shipment_id)
    with pytest.raises(ProviderRejected):
        shipment_void_label(shipment_id=shipment.pk, reason="Too late")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert fake_ep.shipments[shipment.provider_shipment_id]["refund_status"] is None


def test_tracking_refresh_applies_the_trackers_history(
    settings: Any,
    fake_ep: FakeEasyPost,
    carrier: EasyPostCarrier,
    ep_shipment: Shipment,
    paid_order: Order,
) -> None:
    shipment = _buy(carrier, ep_shipment)
    now = timezone.now()
    code = shipment.tracking_code
    fake_ep.scan(code, "in_transit", "arrived_at_facility", when=now + timedelta(minutes=10))
    fake_ep.scan(code, "out_for_delivery", "out_for_delivery", when=now + timedelta(minutes=30))
    fake_ep.scan(code, "delivered", "arrived_at_destination", when=now + timedelta(minutes=50))

    reported = shipment_refresh_tracking(shipment_id=shipment.pk)
    again = shipment_refresh_tracking(shipment_id=shipment.pk)

    assert reported == again == 4  # label created, in transit, out for delivery, delivered
    shipment.refresh_from_db()
    paid_order.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    assert shipment.tracking_status == "delivered"
    assert shipment.delivered_at == (now + timedelta(minutes=50)).replace(microsecond=0)
    assert paid_order.status == "delivered"
    events = list(shipment.tracking_events.order_by("occurred_at"))
    assert [e.carrier_code for e in events] == [
        "pre_transit/label_created",
        "in_transit/arrived_at_facility",
        "out_for_delivery/out_for_delivery",
        "delivered/arrived_at_destination",
    ]
    assert events[1].location == "ORLANDO, FL, US 32809"
    assert shipment.tracking_events.count() == reported  # the second refresh added nothing
    assert not fake_ep.requests_to("POST", "/trackers")  # the label's tracker was found


def test_track_creates_a_tracker_for_a_code_easypost_does_not_track_yet(
    fake_ep: FakeEasyPost, carrier: EasyPostCarrier
) -> None:
    facts = carrier.track(tracking_code="9400100000000000000000")
    assert [f.carrier_code for f in facts] == ["unknown/unknown"]
    assert facts[0].tracking_status == "unknown"
    carrier.track(tracking_code="9400100000000000000000")
    assert len(fake_ep.requests_to("POST", "/trackers")) == 1  # found the second time


def test_a_paid_order_ships_with_the_cheapest_easypost_rate(
    settings: Any, fake_ep: FakeEasyPost, customer: Any
) -> None:
    settings.SHIPPING_CARRIER = "easypost"
    order = make_paid_payment(customer=customer, currency="USD").order
    Order.objects.filter(pk=order.pk).update(
        ship_to_name="Dr. Steve Brule",
        ship_to_street="E Bullard Ave",
        ship_to_number="179",
        ship_to_city="Fresno",
        ship_to_state="CA",
        ship_to_postal_code="93711",
        ship_to_country="US",
    )

    shipment_start_for_order(order_id=order.pk)
    shipment_start_for_order(order_id=order.pk)  # a redelivered subscriber: nothing more

    shipment = Shipment.objects.get(order=order)
    assert (shipment.carrier, shipment.service) == ("easypost", "USPS GroundAdvantage")
    assert shipment.status == ShipmentStatus.LABEL_PURCHASED
    assert shipment.cost_currency == "USD" and shipment.cost_amount > 0
    assert fake_ep.labels_bought == 1
    bought = fake_ep.shipments[shipment.provider_shipment_id]
    assert bought["reference"] == f"shipment:{shipment.pk}"
    assert shipment.tracking_code == bought["tracking_code"]


def test_a_real_order_shipped_by_easypost_keeps_the_rates_currency(
    settings: Any, fake_ep: FakeEasyPost, customer: Any
) -> None:
    """EasyPost prices in USD: a BRL order's shipment costs USD, never USD cents labelled BRL."""
    settings.SHIPPING_CARRIER = "easypost"
    order = make_paid_payment(customer=customer, currency="BRL").order
    Order.objects.filter(pk=order.pk).update(
        ship_to_name="Dr. Steve Brule",
        ship_to_street="E Bullard Ave",
        ship_to_number="179",
        ship_to_city="Fresno",
        ship_to_state="CA",
        ship_to_postal_code="93711",
        ship_to_country="US",
    )

    shipment_start_for_order(order_id=order.pk)

    shipment = Shipment.objects.get(order=order)
    assert shipment.cost_currency == "USD" and shipment.cost_amount > 0
