"""The payment family's fact pipeline: any permutation of a payment's, its refund's and its
dispute's facts, with duplicates, from any provider (sandbox, Stripe, Asaas), ends in the same
state.

Each delivery is a real payload shape (the Stripe fixtures, the recorded Asaas payloads, the
sandbox's Standard Webhooks body), read by the provider endpoint's own ``parse`` and run through
its own handler, which maps it to facts that ``payments.facts`` applies. A duplicate is the same
fact delivered again under another event id (the inbox would store it: only the domain can tell).
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from integrations.webhooks.registry import WebhookEndpoint
from orders.models import OrderStatus
from payments.models import (
    Dispute,
    DisputeStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.providers.asaas.client import ASAAS_TZ
from payments.providers.asaas.webhooks import endpoint as asaas_endpoint
from payments.providers.sandbox.webhooks import endpoint as sandbox_endpoint
from payments.providers.stripe.webhooks import endpoint as stripe_endpoint
from payments.services import (
    payment_attach_provider_id,
    payment_create,
    refund_approve,
    refund_request,
)
from tests.factories import make_order, make_staff

pytestmark = pytest.mark.django_db
HERE = Path(__file__).parent
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FACT_SETTINGS = hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.generate],
)
_ids = itertools.count(1)

Delivery = Callable[[], None]


def deliver(endpoint: WebhookEndpoint, body: Mapping[str, Any], **headers: str) -> Delivery:
    """A delivery of ``body``: parsed by ``endpoint`` and run through its handler, in one
    transaction, as the inbox does (under a fresh event id each time it runs)."""
    raw = json.dumps(body).encode()

    def run() -> None:
        parsed = endpoint.parse(headers={"webhook-id": f"msg_{next(_ids)}", **headers}, body=raw)
        handler = endpoint.handler_for(parsed.event_type)
        assert handler is not None, parsed.event_type
        event = WebhookEvent(
            provider=endpoint.name, event_id=parsed.event_id, event_type=parsed.event_type
        )
        with transaction.atomic():
            handler(event, parsed)

    return run


def in_any_order(data: st.DataObject, deliveries: list[Delivery]) -> None:
    """Run every delivery once, and some again, in an order Hypothesis picks."""
    repeats = data.draw(st.lists(st.sampled_from(range(len(deliveries))), max_size=4))
    for i in data.draw(st.permutations([*range(len(deliveries)), *repeats])):
        deliveries[i]()


def approved_refund(payment: Payment, amount: int) -> Refund:
    payment.refresh_from_db()
    support = make_staff(f"s-{uuid.uuid4().hex[:8]}")
    finance = make_staff(f"f-{uuid.uuid4().hex[:8]}")
    refund = refund_request(payment=payment, requested_by=support, reason="other", amount=amount)
    return refund_approve(refund=refund, approver=finance)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def assert_end_state(
    payment: Payment,
    refund: Refund,
    *,
    refund_status: str,
    refunded: int,
    watermarks: tuple[int, int],
    dispute: tuple[str, int, int] | None = None,
) -> None:
    """The state the newest facts say, whatever the order: ``watermarks`` are the minutes of the
    newest payment and refund facts, ``dispute`` its status, amount and newest minute."""
    payment.refresh_from_db()
    refund.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount_refunded == refunded
    assert payment.provider_updated_at == at(watermarks[0])
    assert payment.order.status == OrderStatus.PAID
    assert refund.status == refund_status
    assert refund.provider_updated_at == at(watermarks[1])
    assert not ReconciliationException.objects.filter(payment=payment).exists()
    disputes = list(Dispute.objects.filter(payment=payment))
    if dispute is None:
        assert disputes == []
    else:
        (one,) = disputes
        assert (one.status, one.amount, one.provider_updated_at) == (
            dispute[0],
            dispute[1],
            at(dispute[2]),
        )


# Sandbox ----------------------------------------------------------------------------------------


def sandbox(type_: str, data: dict[str, Any], minutes: int) -> Delivery:
    body = {"type": type_, "timestamp": at(minutes).isoformat(), "data": data}
    return deliver(sandbox_endpoint, body)


@FACT_SETTINGS
@given(data=st.data())
def test_sandbox_facts_in_any_order_end_in_the_same_state(data: st.DataObject) -> None:
    payment = payment_create(
        order=make_order(amount=10_000), provider="sandbox", method=PaymentMethod.CARD
    )
    pay: dict[str, Any] = {"id": f"sbx_pay_{payment.pk}", "reference": f"payment:{payment.pk}"}
    pay |= {"amount": 10_000, "currency": "BRL"}
    in_any_order(
        data,
        [sandbox("payment.processing", pay, 1), sandbox("payment.succeeded", pay, 2)],
    )
    refund = approved_refund(payment, 4_000)
    re: dict[str, Any] = {"id": f"sbx_re_{refund.pk}", "reference": f"refund:{refund.pk}"}
    re |= {"amount": 4_000, "currency": "BRL"}
    in_any_order(
        data,
        [sandbox("refund.processing", re, 3), sandbox("refund.succeeded", re, 4)],
    )
    assert_end_state(
        payment, refund, refund_status=RefundStatus.SUCCEEDED, refunded=4_000, watermarks=(2, 4)
    )


# Stripe -----------------------------------------------------------------------------------------


def _merge(target: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and value and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def stripe(name: str, minutes: int, **obj: Any) -> Delivery:
    """The recorded Stripe event ``name`` with ``data.object`` fields replaced by ``obj``."""
    event = json.loads((HERE / "stripe" / "fixtures" / f"{name}.json").read_text())
    event = copy.deepcopy(event) | {"id": f"evt_{next(_ids)}"}
    event["created"] = int(at(minutes).timestamp())
    _merge(event["data"]["object"], obj)
    return deliver(stripe_endpoint, event)


@FACT_SETTINGS
@given(data=st.data(), lost=st.booleans())
def test_stripe_facts_in_any_order_end_in_the_same_state(data: st.DataObject, lost: bool) -> None:
    # Our call's answer links the PaymentIntent before Stripe sends anything about it (a
    # dispute names only the intent).
    order = make_order(amount=10_000)
    payment = payment_create(order=order, provider="stripe", method=PaymentMethod.CARD)
    payment = payment_attach_provider_id(payment=payment, provider_payment_id=f"pi_{payment.pk}")
    intent = {
        "id": f"pi_{payment.pk}",
        "amount": 10_000,
        "currency": "brl",
        "metadata": {"reference": f"payment:{payment.pk}"},
    }
    dispute: dict[str, Any] = {
        "id": f"dp_{payment.pk}",
        "payment_intent": f"pi_{payment.pk}",
        "amount": 2_500,
    }
    dispute |= {"currency": "brl", "evidence_details": {"due_by": int(at(60).timestamp())}}
    in_any_order(
        data,
        [
            stripe("payment_intent.processing", 1, **intent, status="processing"),
            stripe("payment_intent.succeeded", 2, **intent),
            stripe("charge.dispute.created", 5, **dispute, status="needs_response"),
            stripe("charge.dispute.updated", 6, **dispute, status="under_review"),
            stripe("charge.dispute.closed", 7, **dispute, status="lost" if lost else "won"),
        ],
    )
    refund = approved_refund(payment, 4_000)
    re: dict[str, Any] = {"id": f"re_{refund.pk}", "amount": 4_000, "currency": "brl"}
    re |= {"payment_intent": f"pi_{payment.pk}", "metadata": {"reference": f"refund:{refund.pk}"}}
    charge: dict[str, Any] = {"id": f"ch_{payment.pk}", "payment_intent": f"pi_{payment.pk}"}
    charge |= {"refunds": {"object": "list", "data": [re | {"status": "succeeded"}]}}
    in_any_order(
        data,
        [
            stripe("refund.created", 3, **re, status="pending"),
            stripe("refund.updated", 4, **re, status="succeeded"),
            stripe("charge.refunded", 4, **charge),  # the same fact, embedded in the charge
        ],
    )
    assert_end_state(
        payment,
        refund,
        refund_status=RefundStatus.SUCCEEDED,
        refunded=4_000,
        watermarks=(2, 4),
        dispute=(DisputeStatus.LOST if lost else DisputeStatus.WON, 2_500, 7),
    )


# Asaas ------------------------------------------------------------------------------------------


def asaas(fixture: str, minutes: int, payment: Payment, **fields: Any) -> Delivery:
    """The recorded Asaas payload ``fixture`` for ``payment``, Asaas's time in Brasília."""
    body = json.loads((HERE / "asaas" / "payloads" / f"{fixture}.json").read_text())
    body["id"] = f"evt_{uuid.uuid4().hex}"
    body["dateCreated"] = at(minutes).astimezone(ASAAS_TZ).strftime("%Y-%m-%d %H:%M:%S")
    body["payment"] |= {
        "id": f"pay_{payment.pk:012d}",
        "externalReference": f"payment:{payment.pk}",
        "value": payment.amount / 100,
        "deleted": False,
        **fields,
    }
    return deliver(asaas_endpoint, body)


def refund_item(refund: Refund, status: str) -> dict[str, Any]:
    return {
        "dateCreated": "2026-03-02 09:00:00",
        "status": status,
        "value": refund.amount / 100,
        "description": f"refund:{refund.pk}",
        "transactionReceiptUrl": None,
    }


def asaas_payment_and_chargeback(payment: Payment) -> list[Delivery]:
    """Created, deleted, restored and paid (the paid charge shows live), and a chargeback of
    part of it that Asaas decides in our favour."""
    chargeback = {"status": "REQUESTED", "value": 25.0, "reason": "ABSENT_CARD_FRAUD"}
    deadline = {"deadlineToSendDisputeDocuments": "2026-03-20"}  # only the first fact says
    return [
        asaas("payment_created", 1, payment),
        asaas("payment_deleted", 2, payment, deleted=True),
        asaas_restored(payment, 3),
        asaas("payment_received", 4, payment),
        asaas("payment_chargeback_requested", 5, payment, chargeback=chargeback | deadline),
        asaas(
            "payment_chargeback_dispute",
            6,
            payment,
            chargeback=chargeback | {"status": "IN_DISPUTE"},
        ),
        asaas("payment_awaiting_chargeback_reversal", 7, payment, chargeback=None),
    ]


@FACT_SETTINGS
@given(data=st.data(), cancelled=st.booleans())
def test_asaas_facts_in_any_order_end_in_the_same_state(
    data: st.DataObject, cancelled: bool
) -> None:
    payment = payment_create(
        order=make_order(amount=10_000, payment_method=PaymentMethod.CARD),
        provider="asaas",
        method=PaymentMethod.CARD,
    )
    in_any_order(data, asaas_payment_and_chargeback(payment))
    refund = approved_refund(payment, 4_000)
    last = "payment_refund_in_progress" if cancelled else "payment_refunded"
    in_any_order(
        data,
        [
            asaas(
                "payment_refund_in_progress",
                8,
                payment,
                refunds=[refund_item(refund, "PENDING")],
            ),
            asaas(
                last,
                9,
                payment,
                refunds=[refund_item(refund, "CANCELLED" if cancelled else "DONE")],
            ),
        ],
    )
    assert_end_state(
        payment,
        refund,
        refund_status=RefundStatus.FAILED if cancelled else RefundStatus.SUCCEEDED,
        refunded=0 if cancelled else 4_000,
        watermarks=(4, 9),
        dispute=(DisputeStatus.WON, 2_500, 7),
    )
    assert Dispute.objects.get(payment=payment).evidence_due_by == datetime(
        2026, 3, 20, 23, 59, 59, tzinfo=ASAAS_TZ
    )


def asaas_restored(payment: Payment, minutes: int) -> Delivery:
    """PAYMENT_RESTORED (no recorded payload: Asaas sends it in the common envelope)."""
    body = json.loads((HERE / "asaas" / "payloads" / "payment_created.json").read_text())
    body["event"] = "PAYMENT_RESTORED"
    body["id"] = f"evt_{uuid.uuid4().hex}"
    body["dateCreated"] = at(minutes).astimezone(ASAAS_TZ).strftime("%Y-%m-%d %H:%M:%S")
    body["payment"] |= {
        "id": f"pay_{payment.pk:012d}",
        "externalReference": f"payment:{payment.pk}",
        "value": payment.amount / 100,
        "deleted": False,
    }
    return deliver(asaas_endpoint, body)


def test_an_asaas_refund_cancelled_then_a_late_pending_stays_failed() -> None:
    """The example of the issue: Asaas cancels a refund, then its older PENDING arrives late (and
    again, in a later event whose time is no older). The refund stays failed, nothing refunded."""
    payment = payment_create(
        order=make_order(amount=10_000, payment_method=PaymentMethod.PIX),
        provider="asaas",
        method=PaymentMethod.PIX,
    )
    asaas("payment_received", 1, payment)()
    refund = approved_refund(payment, 4_000)
    cancelled = asaas(
        "payment_refund_in_progress", 3, payment, refunds=[refund_item(refund, "CANCELLED")]
    )
    late_pending = asaas(
        "payment_refund_in_progress", 2, payment, refunds=[refund_item(refund, "PENDING")]
    )
    same_time_pending = asaas(
        "payment_refund_in_progress", 3, payment, refunds=[refund_item(refund, "PENDING")]
    )

    cancelled()
    late_pending()
    same_time_pending()

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert refund.failure_reason == "Cancelled at Asaas."
    assert refund.provider_updated_at == at(3)
    assert payment.amount_refunded == 0
    assert not ReconciliationException.objects.exists()
