"""``integrations.facts``: references and amounts read off a provider's payload."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.facts import AmountMismatch, ObjectNotReady, check_amount, referenced
from payments.models import Payment, PaymentMethod
from payments.services import payment_create
from tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def payment() -> Payment:
    return payment_create(
        order=make_order(amount=4990), provider="sandbox", method=PaymentMethod.CARD
    )


def test_a_reference_finds_its_row(payment: Payment) -> None:
    assert referenced(Payment, {"reference": f"payment:{payment.pk}"}) == payment


@pytest.mark.parametrize(
    "spell",
    [
        lambda pk: "²",
        lambda pk: "".join(chr(0x0660 + int(d)) for d in str(pk)),  # Arabic-Indic digits
        lambda pk: "".join(chr(0xFF10 + int(d)) for d in str(pk)),  # fullwidth digits
        lambda pk: "9" * 5000,
        lambda pk: "99999999999999999999",
        lambda pk: f" {pk}",
        lambda pk: f"+{pk}",
        lambda pk: "",
    ],
    ids=["superscript", "arabic-indic", "fullwidth", "5000-digits", "past-64-bits", "sp", "+", ""],
)
def test_a_reference_that_is_not_ascii_digits_within_64_bits_is_not_ready(
    payment: Payment, spell: Any
) -> None:
    # str.isdigit() takes all of these; int() refuses "²" and 5000 digits (ValueError) and reads
    # the Arabic-Indic and fullwidth spellings as our row's pk.
    with pytest.raises(ObjectNotReady):
        referenced(Payment, {"reference": f"payment:{spell(payment.pk)}"})


@pytest.mark.parametrize(
    "amount",
    [4990.0, "4990", True, None, [4990], 4990.5],
    ids=["float", "string", "bool", "missing", "list", "fraction"],
)
def test_an_amount_that_is_not_an_integer_is_a_mismatch(payment: Payment, amount: Any) -> None:
    with pytest.raises(AmountMismatch):
        check_amount(payment, {"amount": amount, "currency": "brl"})


def test_the_same_integer_amount_and_currency_pass(payment: Payment) -> None:
    check_amount(payment, {"amount": 4990, "currency": "brl"})
