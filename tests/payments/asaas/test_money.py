"""Money facts on Asaas payments, against the fake Asaas on loopback: the order's split parts
reach Asaas in the charge's ``split`` array (ASAAS_SPLIT only when the order has none), parts
exceeding the amount are refused before anything is sent, and fee/net come from ``netValue``
(in the PAYMENT_RECEIVED webhook and in ``GET /payments/{id}``)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from integrations.exceptions import ProviderRejected
from integrations.models import DomainEvent
from orders.models import PaidStatus
from payments.exceptions import SplitNotAllowed
from payments.models import Payment, PaymentStatus
from payments.services import payment_create
from payments.splits import SplitPartInput, order_split_set
from payments.subscribers import start_payment_for_order
from payments.workflows import payment_fetch_money_facts, payment_start
from tests.factories import make_order
from tests.payments.asaas.conftest import FakeAsaas, make_asaas_customer, webhook_body

pytestmark = pytest.mark.django_db


def _asaas_order(amount: int = 20_000):
    return make_order(customer=make_asaas_customer(), amount=amount, payment_method="pix")


def test_the_orders_split_parts_reach_asaas_in_the_request_body(
    settings, fake_asaas: FakeAsaas
) -> None:
    settings.PAYMENT_PROVIDER = "asaas"
    settings.ASAAS_SPLIT = ["wallet-global:50%"]  # not used: the order has its own parts
    order = _asaas_order(20_000)
    order_split_set(
        order=order,
        parts=[
            SplitPartInput(wallet_id="wallet-seller", fixed_amount=5_000),
            SplitPartInput(wallet_id="wallet-partner", percent=Decimal("12.5")),
        ],
    )

    start_payment_for_order(DomainEvent.objects.get(type="order.placed", subject_id=order.pk))

    payment = Payment.objects.get(order=order)
    assert payment.split == [
        {"wallet_id": "wallet-seller", "fixed_amount": 5_000},
        {"wallet_id": "wallet-partner", "percent": "12.50"},
    ]
    (create,) = fake_asaas.requests_to("POST", "/payments")
    assert create.body["split"] == [
        {"walletId": "wallet-seller", "fixedValue": Decimal("50.00")},
        {"walletId": "wallet-partner", "percentualValue": Decimal("12.50")},
    ]
    assert b'"fixedValue":50.00' in create.raw
    assert fake_asaas.payments[payment.provider_payment_id]["split"] == create.body["split"]


def test_parts_are_frozen_on_the_payment_when_it_starts(settings, fake_asaas: FakeAsaas) -> None:
    order = _asaas_order(20_000)
    order_split_set(order=order, parts=[SplitPartInput(wallet_id="w-first", fixed_amount=1_000)])
    payment = payment_create(order=order, provider="asaas", method="pix")

    order_split_set(order=order, parts=[SplitPartInput(wallet_id="w-later", fixed_amount=2_000)])
    payment_start(order=order, provider="asaas", method="pix")

    (create,) = fake_asaas.requests_to("POST", "/payments")
    assert create.body["split"] == [{"walletId": "w-first", "fixedValue": Decimal("10.00")}]
    payment.refresh_from_db()
    assert payment.split == [{"wallet_id": "w-first", "fixed_amount": 1_000}]


def test_an_order_without_parts_uses_asaas_split_setting(settings, fake_asaas: FakeAsaas) -> None:
    settings.ASAAS_SPLIT = ["wallet-global:1500"]
    order = _asaas_order(20_000)

    payment_start(order=order, provider="asaas", method="pix")

    (create,) = fake_asaas.requests_to("POST", "/payments")
    assert create.body["split"] == [{"walletId": "wallet-global", "fixedValue": Decimal("15.00")}]
    assert Payment.objects.get(order=order).split == []


@pytest.mark.parametrize(
    "parts",
    [
        [SplitPartInput(wallet_id="w", fixed_amount=20_001)],
        [
            SplitPartInput(wallet_id="w1", fixed_amount=15_000),
            SplitPartInput(wallet_id="w2", percent=Decimal("30")),
        ],
        [SplitPartInput(wallet_id="w", percent=Decimal("100.01"))],
        [SplitPartInput(wallet_id="w", percent=Decimal("12.345"))],
        [SplitPartInput(wallet_id=" ", fixed_amount=1)],
        [SplitPartInput(wallet_id="w", fixed_amount=1, percent=Decimal("1"))],
        [
            SplitPartInput(wallet_id="w", fixed_amount=1),
            SplitPartInput(wallet_id="w", fixed_amount=1),
        ],
    ],
)
def test_split_parts_exceeding_the_total_or_malformed_are_refused(parts) -> None:
    order = make_order(amount=20_000)
    order_split_set(order=order, parts=[SplitPartInput(wallet_id="kept", fixed_amount=100)])
    with pytest.raises(SplitNotAllowed):
        order_split_set(order=order, parts=parts)
    assert list(order.split_parts.values_list("wallet_id", flat=True)) == ["kept"]


def test_the_refusal_names_the_amounts_as_money() -> None:
    order = make_order(amount=20_000)
    with pytest.raises(SplitNotAllowed, match=r"R\$ 200,01 fixed \+ 0%\) exceed the R\$ 200,00"):
        order_split_set(order=order, parts=[SplitPartInput(wallet_id="w", fixed_amount=20_001)])


def test_parts_up_to_the_total_are_accepted() -> None:
    order = make_order(amount=20_000)
    order_split_set(
        order=order,
        parts=[
            SplitPartInput(wallet_id="w1", fixed_amount=10_000),
            SplitPartInput(wallet_id="w2", percent=Decimal("50")),
        ],
    )
    assert order.split_parts.count() == 2


def test_a_partial_payment_smaller_than_the_fixed_parts_is_refused(fake_asaas) -> None:
    order = _asaas_order(20_000)
    order_split_set(order=order, parts=[SplitPartInput(wallet_id="w", fixed_amount=8_000)])

    with pytest.raises(SplitNotAllowed):
        payment_create(order=order, provider="asaas", method="pix", amount=5_000)

    assert not Payment.objects.exists()
    assert fake_asaas.requests_to("POST", "/payments") == []


def test_the_fake_refuses_a_split_above_the_net_value_like_asaas(
    fake_asaas: FakeAsaas, provider
) -> None:
    """The fake is a fair judge: Asaas refuses parts above the net value (after its fee), which
    our check against the gross amount cannot always see (percentages of the net)."""
    from payments.providers.base import PaymentRequest, SplitShare

    order = _asaas_order(10_000)
    payment = payment_create(order=order, provider="asaas", method="pix")
    with pytest.raises(ProviderRejected):
        provider.create_payment(
            request=PaymentRequest(
                reference=f"payment:{payment.pk}",
                amount=10_000,
                currency="BRL",
                method="pix",
                split=(SplitShare(wallet_id="w", fixed_amount=10_000),),
            )
        )
    assert fake_asaas.payments == {}


def test_payment_received_webhook_gives_fee_and_net_from_net_value(
    settings, fake_asaas: FakeAsaas, post_webhook
) -> None:
    settings.PAYMENT_PROVIDER = "asaas"
    order = _asaas_order(15_090)
    payment = payment_start(order=order, provider="asaas", method="pix")
    assert payment is not None and payment.fee_amount is None
    fake_asaas.fee = Decimal("1.99")
    fake_asaas.set_status(payment.provider_payment_id, "RECEIVED")

    body = webhook_body(
        "payment_received",
        event_id=f"evt_{uuid.uuid4().hex}",
        id=payment.provider_payment_id,
        externalReference=f"payment:{payment.pk}",
        value=150.9,
        netValue=148.91,
    )
    assert post_webhook(body).status_code == 200

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert (payment.fee_amount, payment.net_amount) == (199, 14_891)
    assert payment.settlement_currency == "BRL"
    # The subscriber asked Asaas too (GET /payments/{id}): the same facts, plus the amounts.
    assert fake_asaas.requests_to("GET", f"/payments/{payment.provider_payment_id}")
    assert (payment.amount_authorized, payment.amount_captured) == (15_090, 15_090)
    order.refresh_from_db()
    assert (order.amount_paid, order.paid_status) == (15_090, PaidStatus.PAID)


def test_money_facts_are_read_from_asaas_only_once_it_was_received(
    fake_asaas: FakeAsaas,
) -> None:
    order = _asaas_order(10_000)
    payment = payment_start(order=order, provider="asaas", method="pix")
    assert payment is not None

    payment_fetch_money_facts(payment_id=payment.pk)  # pending: netValue is only an estimate
    payment.refresh_from_db()
    assert payment.fee_amount is None and payment.net_amount is None

    fake_asaas.set_status(payment.provider_payment_id, "CONFIRMED")
    payment_fetch_money_facts(payment_id=payment.pk)
    payment.refresh_from_db()
    assert (payment.fee_amount, payment.net_amount) == (99, 9_901)
