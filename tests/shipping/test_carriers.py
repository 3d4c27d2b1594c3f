from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from integrations.exceptions import SwitchboardError
from integrations.models import SandboxWebhook
from shipping.carriers import get_carrier
from shipping.carriers.base import LabelRequest, QuoteRequest
from shipping.carriers.sandbox.adapter import SandboxCarrier, sandbox_tracking_code
from shipping.models import TRACKING_STATUSES
from tests.support.shipping import EmitRecorder


def _quote_request(**overrides: object) -> QuoteRequest:
    fields: dict[str, object] = {
        "reference": "order:7",
        "order_number": "SB-000007",
        "items": 1,
        "declared_amount": 10_000,
        "currency": "BRL",
    }
    fields.update(overrides)
    return QuoteRequest(**fields)  # type: ignore[arg-type]


def _label_request(reference: str = "shipment:41") -> LabelRequest:
    return LabelRequest(
        reference=reference,
        service="economy",
        order_number="SB-000007",
        items=2,
        declared_amount=10_000,
        currency="BRL",
        recipient_name="Ana Souza",
    )


def test_get_carrier_defaults_to_the_configured_sandbox() -> None:
    carrier = get_carrier()

    assert isinstance(carrier, SandboxCarrier)
    assert carrier.name == "sandbox"
    assert get_carrier("sandbox") is carrier


def test_get_carrier_refuses_a_name_the_registry_lacks() -> None:
    with pytest.raises(ImproperlyConfigured, match="carrier_x"):
        get_carrier("carrier_x")


def test_quotes_are_deterministic_and_economy_is_cheaper_and_slower() -> None:
    carrier = SandboxCarrier()

    quotes = carrier.quote(request=_quote_request())

    assert quotes == SandboxCarrier().quote(request=_quote_request())
    by_service = {quote.service: quote for quote in quotes}
    assert set(by_service) == {"economy", "express"}
    assert by_service["economy"].amount < by_service["express"].amount
    assert by_service["economy"].days > by_service["express"].days
    assert all(quote.currency == "BRL" for quote in quotes)
    assert all(isinstance(quote.amount, int) and quote.amount > 0 for quote in quotes)


def test_quotes_grow_with_items_and_declared_value() -> None:
    carrier = SandboxCarrier()
    base = {q.service: q.amount for q in carrier.quote(request=_quote_request())}
    more_items = {q.service: q.amount for q in carrier.quote(request=_quote_request(items=3))}
    dearer = {
        q.service: q.amount for q in carrier.quote(request=_quote_request(declared_amount=90_000))
    }

    assert all(more_items[s] > base[s] for s in base)
    assert all(dearer[s] == base[s] + 800 for s in base)  # 1% insurance on the extra 80,000


def test_buy_label_is_deterministic_per_reference(emitted: EmitRecorder) -> None:
    first = SandboxCarrier().buy_label(request=_label_request("shipment:41"))
    again = SandboxCarrier().buy_label(request=_label_request("shipment:41"))
    other = SandboxCarrier().buy_label(request=_label_request("shipment:42"))

    assert first == again
    assert re.fullmatch(r"SB\d{9}BR", first.tracking_code)
    assert first.tracking_code == sandbox_tracking_code("shipment:41")
    assert first.provider_shipment_id.startswith("sbx_shp_")
    assert first.label_url.startswith("https://") and ".invalid/" in first.label_url
    assert other.tracking_code != first.tracking_code
    assert other.provider_shipment_id != first.provider_shipment_id


def test_buy_label_emits_the_four_tracking_facts_in_order(emitted: EmitRecorder) -> None:
    carrier = SandboxCarrier()

    label = carrier.buy_label(request=_label_request())

    assert [endpoint for endpoint, _ in emitted.calls] == ["sandbox-shipping"]
    events = emitted.events
    assert [event.type for event in events] == ["tracking.updated"] * 4
    assert [event.data["status"] for event in events] == [
        "posted",
        "in_transit",
        "out_for_delivery",
        "delivered",
    ]
    assert {event.data["status"] for event in events} <= TRACKING_STATUSES
    for event in events:
        assert event.data["reference"] == "shipment:41"
        assert event.data["tracking_code"] == label.tracking_code
        assert event.data["location"] and event.data["description"]
    times = [event.occurred_at for event in events]
    assert times == sorted(times) and len(set(times)) == 4
    facts = carrier.track(tracking_code=label.tracking_code)
    assert [(f.status, f.occurred_at, f.location, f.description) for f in facts] == [
        (e.data["status"], e.occurred_at, e.data["location"], e.data["description"]) for e in events
    ]


def test_track_knows_nothing_of_an_unknown_code() -> None:
    assert SandboxCarrier().track(tracking_code="SB000000000BR") == []


def test_webhooks_are_owed_as_rows_and_only_sent_after_commit(
    django_capture_on_commit_callbacks, emitted: EmitRecorder, settings: Any
) -> None:
    settings.SANDBOX_SEND_WEBHOOKS = True
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        SandboxCarrier().buy_label(request=_label_request())

    assert len(callbacks) == 1  # one wake of the sender, run only on commit
    assert len(emitted.events) == 4
    owed = SandboxWebhook.objects.filter(endpoint="sandbox-shipping")
    assert owed.count() == 4
    assert set(owed.values_list("status", "sent_at")) == {(SandboxWebhook.Status.PENDING, None)}


def test_chaos_makes_calls_fail_like_an_outage(settings: Any, emitted: EmitRecorder) -> None:
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0
    carrier = SandboxCarrier()

    with pytest.raises(SwitchboardError, match="simulated outage"):
        carrier.quote(request=_quote_request())
    with pytest.raises(SwitchboardError, match="simulated outage"):
        carrier.buy_label(request=_label_request())

    assert emitted.calls == []
    assert carrier.track(tracking_code=sandbox_tracking_code("shipment:41")) == []
