"""Asaas charges only a customer with a CPF/CNPJ (the live API requires ``cpfCnpj``): a customer
without one gets a clear refusal before any call, the payment fails at once with the reason, and
the fake refuses what the live API refuses."""

from __future__ import annotations

import pytest
import requests
from django.core import mail

from integrations.deliveries.relay import deliver_due
from integrations.models import Delivery, ProviderCall
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.asaas.adapter import AsaasPaymentProvider, TaxDocumentMissing
from payments.providers.base import PaymentRequest
from payments.services import payment_create
from tests.factories import make_customer, make_order
from tests.payments.asaas.conftest import API_KEY, FakeAsaas, make_asaas_customer

pytestmark = pytest.mark.django_db

START = "payments.start_payment"


def _request(payment: Payment) -> PaymentRequest:
    return PaymentRequest(
        reference=f"payment:{payment.pk}",
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method,
        customer_email=payment.order.customer.email,
        customer_name=payment.order.customer.name,
    )


def test_a_customer_without_cpf_cnpj_is_refused_before_any_call(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    order = make_order(customer=make_customer(tax_document=""), payment_method="pix")
    payment = payment_create(order=order, provider="asaas", method=PaymentMethod.PIX)

    with pytest.raises(TaxDocumentMissing, match="no CPF/CNPJ") as refused:
        provider.create_payment(request=_request(payment))

    assert refused.value.status_code == 0  # our refusal, not Asaas's
    assert refused.value.customer_reason
    assert fake_asaas.seen == []
    assert not ProviderCall.objects.exists()


def test_a_reference_that_is_not_our_payment_is_refused_too(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    request = PaymentRequest(
        reference="payment:999999", amount=1_000, currency="BRL", method=PaymentMethod.PIX
    )
    with pytest.raises(TaxDocumentMissing):
        provider.create_payment(request=request)
    assert fake_asaas.seen == []


def test_the_order_flow_fails_the_payment_at_once_with_the_reason(settings, fake_asaas: FakeAsaas):
    settings.PAYMENT_PROVIDER = "asaas"
    order = make_order(customer=make_customer(tax_document=""), payment_method="pix")

    deliver_due()
    deliver_due()

    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.FAILED
    assert "no CPF/CNPJ" in payment.failure_reason
    assert payment.provider_payment_id == ""
    delivery = Delivery.objects.get(subscriber=START)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.DEAD, 1)
    assert "TaxDocumentMissing" in delivery.last_error
    assert fake_asaas.seen == []
    # The customer is told what to do.
    (email,) = [m for m in mail.outbox if order.number in m.subject]
    assert TaxDocumentMissing.customer_reason in email.body


def test_the_asaas_customer_is_created_and_found_by_its_cpf(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    customer = make_asaas_customer()
    for method in (PaymentMethod.PIX, PaymentMethod.BOLETO):
        order = make_order(customer=customer, payment_method=method)
        provider.create_payment(
            request=_request(payment_create(order=order, provider="asaas", method=method))
        )

    (created,) = fake_asaas.requests_to("POST", "/customers")
    assert created.body["cpfCnpj"] == customer.tax_document
    lookups = fake_asaas.requests_to("GET", "/customers")
    assert [s.query["cpfCnpj"] for s in lookups] == [[customer.tax_document]] * 2


# The fake refuses what the live API refuses ---------------------------------------------------


def _post(fake: FakeAsaas, path: str, body: dict) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(f"{fake.url}{path}", json=body, headers={"access_token": API_KEY})


@pytest.mark.parametrize(
    ("cpf_cnpj", "description"),
    [(None, "obrigatório"), ("", "obrigatório"), ("12345678900", "inválido")],
)
def test_the_fake_refuses_a_customer_without_a_valid_cpf_cnpj(
    fake_asaas: FakeAsaas, cpf_cnpj, description
):
    body = {"name": "Maria"}
    if cpf_cnpj is not None:
        body["cpfCnpj"] = cpf_cnpj

    answer = _post(fake_asaas, "/customers", body)

    assert answer.status_code == 400
    (error,) = answer.json()["errors"]
    assert error["code"] == "invalid_cpfCnpj"
    assert description in error["description"]
    assert fake_asaas.customers == {}


def test_the_fake_refuses_to_charge_a_customer_without_cpf_cnpj(fake_asaas: FakeAsaas):
    # A customer kept from before the field was required.
    fake_asaas.customers["cus_000000000001"] = {"id": "cus_000000000001", "name": "Old"}
    body = {
        "customer": "cus_000000000001",
        "billingType": "PIX",
        "value": 10,
        "dueDate": "2030-01-01",
    }

    answer = _post(fake_asaas, "/payments", body)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["code"] == "invalid_customer.cpfCnpj"
    assert fake_asaas.payments == {}
