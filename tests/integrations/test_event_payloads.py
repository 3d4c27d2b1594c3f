"""Every DomainEvent type declares a typed payload; record_event validates it; the timeline and
the customer messages read it typed (issue 9, item 4)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction

from accounts.customers.selectors import customer_timeline
from accounts.events import NoteAddedPayload
from integrations.events import (
    EventType,
    Payload,
    event_kinds,
    event_payload,
    record_event,
    registered_event_types,
    render_summary,
)
from integrations.exceptions import InvalidEventPayload, SwitchboardError
from integrations.models import Delivery, DomainEvent
from notifications.default_rules import DEFAULT_RULES
from notifications.models import NotificationRule
from notifications.rules import customer_message_for
from payments.events import RefundPayload
from payments.services import (
    refund_approve,
    refund_mark_processing,
    refund_mark_succeeded,
    refund_request,
)
from tests.factories import make_customer, make_paid_payment

EVENT_TYPES = sorted(registered_event_types().values(), key=lambda t: t.name)


def _placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def test_the_walk_covers_every_app_that_emits_events():
    assert {
        "customer",
        "note",
        "order",
        "usage",
        "payment",
        "refund",
        "dispute",
        "reconciliation",
        "shipment",
        "notification",
        "consent",
        "webhook_endpoint",
        "crm",
    } == set(event_kinds())
    assert len(EVENT_TYPES) >= 50
    assert {r["event_type"] for r in DEFAULT_RULES} <= {t.name for t in EVENT_TYPES}


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.name)
def test_every_type_records_its_example_and_renders_its_summary_and_message(
    db: None, event_type: EventType
) -> None:
    customer = make_customer()
    example = event_type.payload.example()
    with transaction.atomic():
        recorded = record_event(
            type=event_type.name,
            customer=customer,
            actor_label="test",
            occurred_at=datetime(2030, 1, 1, tzinfo=UTC),
            data=example.as_data(),
        )
    stored = DomainEvent.objects.get(pk=recorded.pk)
    assert event_payload(stored) == example

    entry = customer_timeline(customer=customer, limit=1).entries[0]
    assert entry.id == stored.pk
    assert entry.summary == render_summary(stored)
    names = _placeholders(event_type.summary)
    assert names, f"{event_type.name} has no summary"
    for name in names:
        assert str(getattr(example, name)) in entry.summary, name

    rule = NotificationRule.objects.filter(event_type=event_type.name, active=True).first()
    message = customer_message_for(stored, language="en")
    if rule is None:
        assert message is None
        return
    assert message is not None
    assert message.template == rule.template
    number = getattr(example, "number" if hasattr(example, "number") else "order")
    assert number.startswith("ex-") and number in message.body
    if hasattr(example, "amount") and "money" in rule.body_en:
        assert "R$ 19,99" in message.body


def test_refund_events_carry_their_order_and_the_success_message_names_it(
    db: None, support_user: Any, finance_user: Any
) -> None:
    payment = make_paid_payment(amount=12_990)
    number = payment.order.number
    refund = refund_request(
        payment=payment, requested_by=support_user, reason="requested_by_customer", amount=2_500
    )
    refund = refund_approve(refund=refund, approver=finance_user)
    refund = refund_mark_processing(refund=refund, provider_refund_id="sbx_re_1")
    refund_mark_succeeded(refund=refund)

    events = list(DomainEvent.objects.filter(kind="refund").order_by("id"))
    assert [e.type for e in events] == [
        "refund.requested",
        "refund.approved",
        "refund.processing",
        "refund.succeeded",
    ]
    for event in events:
        payload = event_payload(event)
        assert isinstance(payload, RefundPayload)
        assert payload.order == number
    message = customer_message_for(events[-1], language="en")
    assert message is not None
    assert f"a refund of R$ 25,00 for {number}." in message.body


@dataclass(frozen=True, kw_only=True)
class _NotANote(Payload):
    excerpt: str


WRONG_PAYLOADS: dict[str, tuple[Any, str]] = {
    "missing key": ({"amount": 100, "currency": "BRL"}, "'order' is missing"),
    "unknown key": (
        {"amount": 100, "currency": "BRL", "order": "SB-1", "number": "SB-1"},
        "'number' is not a field of RefundPayload",
    ),
    "string for an integer": (
        {"amount": "100", "currency": "BRL", "order": "SB-1"},
        "'amount' must be int, not str",
    ),
    "float for an integer": (
        {"amount": 1.5, "currency": "BRL", "order": "SB-1"},
        "'amount' must be int, not float",
    ),
    "boolean for an integer": (
        {"amount": True, "currency": "BRL", "order": "SB-1"},
        "'amount' must be int, not bool",
    ),
    "not JSON": (
        {"amount": 100, "currency": "BRL", "order": datetime(2030, 1, 1, tzinfo=UTC)},
        "'order' must be str, not datetime",
    ),
    "no data": (None, "'amount' is missing"),
    "not a mapping": (["amount", 100], "data must be a mapping"),
    "another type's payload": (NoteAddedPayload(excerpt="x"), "expected RefundPayload"),
}


@pytest.mark.parametrize("case", WRONG_PAYLOADS, ids=str)
def test_a_wrong_payload_is_refused_and_writes_nothing(db: None, case: str) -> None:
    data, problem = WRONG_PAYLOADS[case]
    customer = make_customer()
    events, deliveries = DomainEvent.objects.count(), Delivery.objects.count()

    with pytest.raises(InvalidEventPayload) as refused, transaction.atomic():
        record_event(type="refund.succeeded", customer=customer, data=data)

    assert isinstance(refused.value, SwitchboardError)
    assert refused.value.event_type == "refund.succeeded"
    assert problem in str(refused.value)
    assert DomainEvent.objects.count() == events
    assert Delivery.objects.count() == deliveries  # refund.succeeded has subscribers


def test_list_and_dict_fields_are_checked_item_by_item(customer: Any) -> None:
    good = {"merged": "Ana (#2)", "merged_ids": [2], "moved": {"orders": 1}}
    for key, bad in (("merged_ids", ["2"]), ("moved", {"orders": "1"}), ("moved", {1: 1})):
        with pytest.raises(InvalidEventPayload, match=key), transaction.atomic():
            record_event(type="customer.merged", customer=customer, data={**good, key: bad})
    with transaction.atomic():
        event = record_event(type="customer.merged", customer=customer, data=good)
    assert render_summary(event) == "Merged Ana (#2) into this customer"


def test_the_payload_object_itself_is_accepted(customer: Any) -> None:
    with transaction.atomic():
        event = record_event(
            type="note.added", customer=customer, data=NoteAddedPayload(excerpt="Called back")
        )
    assert DomainEvent.objects.get(pk=event.pk).data == {"excerpt": "Called back"}
    with (
        pytest.raises(InvalidEventPayload, match="expected NoteAddedPayload"),
        transaction.atomic(),
    ):
        record_event(type="note.added", customer=customer, data=_NotANote(excerpt="x"))


def test_a_type_whose_summary_names_no_field_or_whose_fields_are_untyped_is_refused() -> None:
    with pytest.raises(TypeError, match=r"\{nope\} is neither a field nor a property"):
        EventType("note.nope", "Nope", "{excerpt} {nope}", payload=NoteAddedPayload)

    @dataclass(frozen=True, kw_only=True)
    class Floaty(Payload):
        ratio: float

    with pytest.raises(TypeError, match="unsupported payload field types"):
        EventType("note.floaty", "Floaty", payload=Floaty)

    @dataclass(frozen=True, kw_only=True)
    class Loose:
        excerpt: str

    with pytest.raises(TypeError, match="frozen Payload dataclass"):
        EventType("note.loose", "Loose", payload=Loose)  # type: ignore[arg-type]


def test_rows_written_before_payloads_still_read_and_render(db: None) -> None:
    usage = DomainEvent(type="usage.feature_used", data={"feature": "reports"})
    refund = DomainEvent(type="refund.succeeded", data={"amount": 2_500, "currency": "BRL"})
    tracking = DomainEvent(
        type="shipment.delivery_failed",
        data={
            "order": "SB-1",
            "carrier": "sandbox",
            "tracking_code": "SB1BR",
            "location": "Rua A",
            "description": "Nobody home",
            "at_location": " at Rua A",
            "detail": ": Nobody home",
        },
    )
    mistyped = DomainEvent(type="order.placed", data={"number": 7, "amount": "x"})

    assert render_summary(usage) == "Used reports"
    assert render_summary(refund) == "R$ 25,00 refunded"
    message = customer_message_for(refund, language="en")
    assert message is not None and "a refund of R$ 25,00." in message.body
    assert render_summary(tracking) == "sandbox SB1BR: delivery failed at Rua A: Nobody home"
    assert render_summary(mistyped) == ":  0.00, 0 item(s)"
    assert render_summary(DomainEvent(type="gone.away", data={})) == "gone.away"
    assert event_payload(DomainEvent(type="gone.away", data={})) is None
