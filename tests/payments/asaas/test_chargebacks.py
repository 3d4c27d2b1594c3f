"""An Asaas chargeback is a Dispute for the chargeback's own value (not the payment's), with the
evidence deadline Asaas gives (``deadlineToSendDisputeDocuments``), like Stripe's
``evidence_due_by``."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest
from django.core import mail

from accounts.access.roles import FINANCE
from integrations.models import DomainEvent, WebhookEvent
from payments.models import Dispute, DisputeStatus, Payment, PaymentMethod, ReconciliationException
from payments.services import payment_create
from tests.factories import make_order, make_staff
from tests.payments.asaas.conftest import webhook_body

pytestmark = pytest.mark.django_db
_ids = itertools.count(1)


def _payment(amount: int = 10_000) -> Payment:
    order = make_order(amount=amount, payment_method=PaymentMethod.CARD)
    return payment_create(order=order, provider="asaas", method=PaymentMethod.CARD)


def _body(fixture: str, payment: Payment, chargeback: dict | None = None, **fields) -> dict:
    fields.setdefault("id", f"pay_{payment.pk:012d}")
    fields.setdefault("externalReference", f"payment:{payment.pk}")
    fields.setdefault("value", payment.amount / 100)
    body = webhook_body(fixture, event_id=f"evt_{uuid.uuid4().hex}&{next(_ids)}", **fields)
    if chargeback is not None:
        body["payment"]["chargeback"] = chargeback
    return body


def _chargeback(**fields) -> dict:
    return {"id": "chb_1", "status": "REQUESTED", "reason": "FRAUD", **fields}


def test_a_partial_chargeback_records_its_own_amount_and_deadline(post_webhook):
    payment = _payment(10_000)
    body = _body(
        "payment_chargeback_requested",
        payment,
        _chargeback(value=40.0, deadlineToSendDisputeDocuments="2024-07-05"),
    )

    assert post_webhook(body).status_code == 200

    dispute = Dispute.objects.get()
    assert dispute.amount == 4_000  # the chargeback's value, not the payment's 10_000
    assert dispute.currency == "BRL"
    # The end of 5 July in Brasília (UTC-3).
    assert dispute.evidence_due_by == datetime(2024, 7, 6, 2, 59, 59, tzinfo=UTC)
    opened = DomainEvent.objects.get(type="dispute.opened")
    assert opened.data["amount"] == 4_000
    assert opened.data["due"] == "2024-07-06T02:59:59+00:00"


def test_finance_is_told_the_chargeback_amount_and_deadline(post_webhook):
    make_staff("finance-cb", role=FINANCE)
    payment = _payment(10_000)
    body = _body(
        "payment_chargeback_requested",
        payment,
        _chargeback(value="25.50", deadlineToSendDisputeDocuments="2024-07-05"),
    )

    assert post_webhook(body).status_code == 200

    (email,) = mail.outbox
    assert email.to == ["finance-cb@switchboard.test"]
    assert "2024-07-06 02:59 UTC" in email.subject
    assert "R$ 25,50" in email.body
    assert "R$ 100,00" not in email.body


def test_a_later_fact_moves_the_deadline_and_the_amount(post_webhook):
    payment = _payment(10_000)
    post_webhook(_body("payment_chargeback_requested", payment, _chargeback(value=40.0)))
    dispute = Dispute.objects.get()
    assert dispute.evidence_due_by is None

    later = _body(
        "payment_chargeback_dispute",
        payment,
        _chargeback(status="IN_DISPUTE", value=35.0, deadlineToSendDisputeDocuments="2024-07-10"),
    )
    assert post_webhook(later).status_code == 200

    dispute.refresh_from_db()
    assert dispute.status == DisputeStatus.UNDER_REVIEW
    assert dispute.amount == 3_500
    assert dispute.evidence_due_by == datetime(2024, 7, 11, 2, 59, 59, tzinfo=UTC)


def test_without_a_value_the_dispute_is_for_the_payment_and_a_later_one_does_not_undo_it(
    post_webhook,
):
    payment = _payment(10_000)
    post_webhook(_body("payment_chargeback_requested", payment, _chargeback(value=60.0)))
    # A later fact without a value keeps the amount Asaas gave.
    later = _body("payment_chargeback_dispute", payment, _chargeback(status="IN_DISPUTE"))
    post_webhook(later)

    assert Dispute.objects.get().amount == 6_000


@pytest.mark.parametrize("value", [100.01, 0, -5, "abc", "1e999999999", 0.001])
def test_a_chargeback_value_that_cannot_be_is_flagged_and_opens_nothing(post_webhook, value):
    payment = _payment(10_000)
    body = _body("payment_chargeback_requested", payment, _chargeback(value=value))

    assert post_webhook(body).status_code == 200

    assert not Dispute.objects.exists()
    payment.order.refresh_from_db()
    assert not payment.order.is_flagged
    exception = ReconciliationException.objects.get()
    assert exception.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert "Chargeback" in exception.detail


def test_a_deadline_out_of_range_fails_the_event_and_opens_nothing(post_webhook):
    payment = _payment(10_000)
    body = _body(
        "payment_chargeback_requested",
        payment,
        _chargeback(value=40.0, deadlineToSendDisputeDocuments="9999-12-31"),
    )

    assert post_webhook(body).status_code == 200

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.DEAD
    assert event.last_error.startswith("MalformedWebhook")
    assert not Dispute.objects.exists()


def test_a_deadline_that_is_not_a_date_is_left_empty(post_webhook):
    payment = _payment(10_000)
    body = _body(
        "payment_chargeback_requested",
        payment,
        _chargeback(value=40.0, deadlineToSendDisputeDocuments="soon"),
    )

    assert post_webhook(body).status_code == 200

    dispute = Dispute.objects.get()
    assert dispute.amount == 4_000
    assert dispute.evidence_due_by is None
