"""Money facts on Stripe payments, against the fake Stripe on loopback: fee, net, settlement
currency and availability from the charge's balance transaction (PaymentIntent retrieved with
``expand[]=latest_charge.balance_transaction``), and authorised vs captured with manual
capture."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from integrations.exceptions import ProviderUnavailable
from integrations.models import DomainEvent
from orders.models import PaidStatus
from payments.models import Payment, PaymentStatus
from payments.subscribers import start_payment_for_order
from payments.workflows import payment_fetch_money_facts
from tests.factories import make_order
from tests.payments.stripe.conftest import load_event
from tests.support.fake_stripe import API_KEY, FakeStripe

pytestmark = pytest.mark.django_db


def _start(order) -> Payment:
    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=order.pk))
    return Payment.objects.get(order=order)


def test_a_succeeded_payment_gets_fee_and_net_from_its_balance_transaction(
    settings, fake_stripe: FakeStripe, post_event
) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    order = make_order(amount=5_000)
    payment = _start(order)
    intent = fake_stripe.intents[payment.provider_payment_id]

    event = load_event("payment_intent.succeeded", event_id="evt_money_1", created=int(time.time()))
    event["data"]["object"] = dict(intent)
    assert post_event(event).status_code == 200  # the subscriber fetches the money facts

    payment.refresh_from_db()
    txn = fake_stripe.balance_transactions[f"txn_{intent['id'][3:]}"]
    assert payment.status == PaymentStatus.SUCCEEDED
    assert txn["fee"] == 5_000 * 290 // 10_000 + 30 == 175
    assert (payment.fee_amount, payment.net_amount) == (175, 4_825)
    assert payment.settlement_currency == "BRL"
    assert payment.funds_available_at == datetime.fromtimestamp(txn["available_on"], tz=UTC)
    assert (payment.amount_authorized, payment.amount_captured) == (5_000, 5_000)
    (get,) = fake_stripe.requests_to(f"/v1/payment_intents/{intent['id']}", method="GET")
    assert get.form == {"expand[0]": "latest_charge.balance_transaction"}
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (5_000, PaidStatus.PAID)


def test_fee_and_net_are_in_the_settlement_currency(settings, fake_stripe: FakeStripe) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    fake_stripe.settlement_currency = "usd"
    fake_stripe.fee_basis_points, fake_stripe.fee_fixed = 390, 0
    payment = _start(make_order(amount=10_000))

    payment_fetch_money_facts(payment_id=payment.pk)

    payment.refresh_from_db()
    assert (payment.fee_amount, payment.net_amount) == (390, 9_610)
    assert (payment.currency, payment.settlement_currency) == ("BRL", "USD")


def test_manual_capture_shows_authorised_then_captured(settings, fake_stripe: FakeStripe) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    settings.STRIPE_CAPTURE_METHOD = "manual"
    payment = _start(make_order(amount=8_000))
    intent = fake_stripe.intents[payment.provider_payment_id]
    (create,) = fake_stripe.requests_to("/v1/payment_intents")
    assert create.form["capture_method"] == "manual"
    assert intent["status"] == "requires_capture"
    assert payment.status == PaymentStatus.PENDING

    payment_fetch_money_facts(payment_id=payment.pk)
    payment.refresh_from_db()
    assert (payment.amount_authorized, payment.amount_captured) == (8_000, 0)
    assert payment.fee_amount is None  # an uncaptured charge has no balance transaction yet

    captured = requests.post(
        f"{fake_stripe.url}/v1/payment_intents/{intent['id']}/capture",
        data={"amount_to_capture": "6000"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert captured.status_code == 200 and captured.json()["amount_received"] == 6_000

    payment_fetch_money_facts(payment_id=payment.pk)
    payment.refresh_from_db()
    assert (payment.amount_authorized, payment.amount_captured) == (8_000, 6_000)
    assert (payment.fee_amount, payment.net_amount) == (204, 5_796)


def test_a_succeeded_payment_without_a_fee_yet_is_retried(
    settings, fake_stripe: FakeStripe
) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    payment = _start(make_order(amount=3_000))
    charge = fake_stripe.charges[fake_stripe.intents[payment.provider_payment_id]["latest_charge"]]
    charge["balance_transaction"] = None  # Stripe has not created it yet
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.SUCCEEDED)

    with pytest.raises(ProviderUnavailable):
        payment_fetch_money_facts(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.fee_amount is None
    assert payment.amount_authorized == 3_000


def test_the_fake_serves_balance_transactions_and_refuses_unknown_expansions(
    settings, fake_stripe: FakeStripe
) -> None:
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    payment = _start(make_order(amount=2_000))
    intent_id = payment.provider_payment_id
    auth = {"Authorization": f"Bearer {API_KEY}"}

    txn = requests.get(
        f"{fake_stripe.url}/v1/balance_transactions/txn_{intent_id[3:]}", headers=auth, timeout=5
    ).json()
    assert txn["object"] == "balance_transaction"
    assert txn["amount"] == txn["fee"] + txn["net"] == 2_000
    assert txn["fee_details"][0]["type"] == "stripe_fee"
    missing = requests.get(
        f"{fake_stripe.url}/v1/balance_transactions/txn_nope", headers=auth, timeout=5
    )
    assert missing.status_code == 404
    refused = requests.get(
        f"{fake_stripe.url}/v1/payment_intents/{intent_id}",
        params={"expand[0]": "customer.invoice"},
        headers=auth,
        timeout=5,
    )
    assert refused.status_code == 400
