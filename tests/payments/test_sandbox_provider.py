"""The sandbox payment provider's ``retrieve`` answers from durable state, like a real provider's
API: any process (a fresh adapter here) sees the same status its webhooks report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.base import PaymentRequest
from payments.providers.sandbox.adapter import SandboxPaymentProvider, sandbox_payment_status
from tests.factories import make_order
from tests.support.backstop import age, start_payment

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("amount", "method", "seconds", "status"),
    [
        (10_000, PaymentMethod.CARD, 0, PaymentStatus.PENDING),
        (10_000, PaymentMethod.CARD, 1.5, PaymentStatus.PENDING),
        (10_000, PaymentMethod.CARD, 2, PaymentStatus.SUCCEEDED),
        (10_013, PaymentMethod.CARD, 1.9, PaymentStatus.PENDING),
        (10_013, PaymentMethod.PIX, 2, PaymentStatus.FAILED),
        (10_000, PaymentMethod.BOLETO, 0.5, PaymentStatus.PENDING),
        (10_000, PaymentMethod.BOLETO, 1, PaymentStatus.PROCESSING),
        (10_013, PaymentMethod.BOLETO, 1.5, PaymentStatus.PROCESSING),
        (10_000, PaymentMethod.BOLETO, 3600, PaymentStatus.SUCCEEDED),
        (10_013, PaymentMethod.BOLETO, 3600, PaymentStatus.FAILED),
    ],
)
def test_status_follows_the_sandbox_rule(
    amount: int, method: str, seconds: float, status: str
) -> None:
    now = T0 + timedelta(seconds=seconds)
    assert sandbox_payment_status(amount=amount, method=method, created_at=T0, now=now) == status


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "status"), [(10_000, PaymentStatus.SUCCEEDED), (10_013, PaymentStatus.FAILED)]
)
def test_retrieve_in_another_process_answers_from_our_payment_row(amount: int, status: str) -> None:
    payment = start_payment(make_order(amount=amount))
    fresh = SandboxPaymentProvider()  # no memory shared with the adapter that took the payment

    just_created = fresh.retrieve(provider_payment_id=payment.provider_payment_id)
    assert just_created.status == PaymentStatus.PENDING

    age(payment, minutes=1)
    answer = fresh.retrieve(provider_payment_id=payment.provider_payment_id)
    assert answer.provider_payment_id == payment.provider_payment_id
    assert (answer.status, answer.amount, answer.currency) == (status, amount, "BRL")


@pytest.mark.django_db
def test_retrieve_of_an_unknown_id_is_a_rejection_like_a_404() -> None:
    with pytest.raises(ProviderRejected) as caught:
        SandboxPaymentProvider().retrieve(provider_payment_id="sbx_pay_missing")
    assert caught.value.status_code == 404
    assert caught.value.provider == "sandbox"


@pytest.mark.django_db
def test_retrieve_of_another_providers_id_is_unknown_to_the_sandbox() -> None:
    payment = age(start_payment(make_order()), minutes=1)
    Payment.objects.filter(pk=payment.pk).update(provider="stripe")
    with pytest.raises(ProviderRejected):
        SandboxPaymentProvider().retrieve(provider_payment_id=payment.provider_payment_id)


@pytest.mark.django_db
def test_retrieve_has_the_sandboxs_chaos_outages(settings) -> None:
    settings.SANDBOX_CHAOS_FAILURE_RATE = 1.0
    with pytest.raises(ProviderUnavailable):
        SandboxPaymentProvider().retrieve(provider_payment_id="sbx_pay_any")


def test_create_payment_is_idempotent_on_the_reference_and_starts_pending() -> None:
    request = PaymentRequest(reference="payment:4242", amount=5_000, currency="BRL", method="pix")
    first = SandboxPaymentProvider().create_payment(request=request)
    again = SandboxPaymentProvider().create_payment(request=request)
    assert first == again
    assert first.status == PaymentStatus.PENDING
    assert first.provider_payment_id.startswith("sbx_pay_")
