"""The payment status backstop against the fake Asaas: it GETs ``/v3/payments/{id}`` through
the real adapter and outbound client, and applies what Asaas says."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import ProviderCall
from orders.models import OrderStatus
from payments.backstop import payments_backstop_pending
from payments.models import Payment, PaymentStatus
from tests.factories import make_order
from tests.payments.asaas.conftest import FakeAsaas, make_asaas_customer
from tests.support.backstop import age, start_payment, types_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def asaas_payment(settings: Any, fake_asaas: FakeAsaas) -> Payment:
    """A Pix charge at Asaas whose ``PAYMENT_RECEIVED`` webhook never reached us."""
    settings.PAYMENT_PROVIDER = "asaas"
    payment = age(
        start_payment(
            make_order(customer=make_asaas_customer(), amount=15_090, payment_method="pix")
        )
    )
    assert payment.provider == "asaas"
    assert fake_asaas.payments[payment.provider_payment_id]["status"] == "PENDING"
    return payment


def _gets(fake: FakeAsaas, payment: Payment) -> int:
    return len(fake.requests_to("GET", f"/payments/{payment.provider_payment_id}"))


def test_the_backstop_fetches_the_payment_and_applies_received(
    fake_asaas: FakeAsaas, asaas_payment: Payment
) -> None:
    fake_asaas.set_status(asaas_payment.provider_payment_id, "RECEIVED")

    result = payments_backstop_pending()

    assert result.applied == 1
    assert _gets(fake_asaas, asaas_payment) == 1
    assert ProviderCall.objects.filter(provider="asaas", operation="payment.get").count() == 1
    asaas_payment.refresh_from_db()
    assert asaas_payment.status == PaymentStatus.SUCCEEDED
    assert asaas_payment.order.status == OrderStatus.PAID
    # The boleto was announced to the customer (payment.checkout_ready) when it was created.
    assert types_of(asaas_payment) == [
        "payment.created",
        "payment.checkout_ready",
        "payment.succeeded",
    ]


def test_an_overdue_boleto_stays_pending_and_is_asked_again_later(
    fake_asaas: FakeAsaas, asaas_payment: Payment
) -> None:
    fake_asaas.set_status(asaas_payment.provider_payment_id, "OVERDUE")

    assert payments_backstop_pending().unchanged == 1
    assert payments_backstop_pending().selected == 0  # within the recheck interval

    assert _gets(fake_asaas, asaas_payment) == 1
    asaas_payment.refresh_from_db()
    assert asaas_payment.status == PaymentStatus.PENDING


def test_a_charge_deleted_at_asaas_cancels_the_payment(
    fake_asaas: FakeAsaas, asaas_payment: Payment
) -> None:
    fake_asaas.payments[asaas_payment.provider_payment_id]["deleted"] = True

    assert payments_backstop_pending().applied == 1

    asaas_payment.refresh_from_db()
    assert asaas_payment.status == PaymentStatus.CANCELLED


def test_asaas_down_leaves_the_payment_pending(
    fake_asaas: FakeAsaas, asaas_payment: Payment
) -> None:
    fake_asaas.set_status(asaas_payment.provider_payment_id, "RECEIVED")
    path = f"/payments/{asaas_payment.provider_payment_id}"
    fake_asaas.fail("GET", path, "500", "500", "500")

    assert payments_backstop_pending().unavailable == 1

    assert _gets(fake_asaas, asaas_payment) == 3
    asaas_payment.refresh_from_db()
    assert asaas_payment.status == PaymentStatus.PENDING
