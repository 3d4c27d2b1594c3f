"""AsaasPaymentProvider against the local fake Asaas API: Pix, boleto, card, split, refunds,
idempotency, fault injection, and no secret in the ProviderCall ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import ProviderCall
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.asaas.adapter import (
    ASAAS_TZ,
    AsaasPaymentProvider,
    payment_status,
    split_rules,
)
from payments.providers.asaas.client import AsaasMoneyError, dumps, to_decimal, to_minor
from payments.providers.base import PaymentRequest, RefundRequest
from payments.services import payment_create, refund_approve, refund_request
from tests.factories import make_order, make_staff
from tests.payments.asaas.conftest import API_KEY, FakeAsaas, make_asaas_customer

pytestmark = pytest.mark.django_db


def _payment(method: str, amount: int = 10_000, **customer: str) -> Payment:
    order = make_order(
        amount=amount, customer=make_asaas_customer(**customer), payment_method=method
    )
    return payment_create(order=order, provider="asaas", method=method)


def _request(payment: Payment) -> PaymentRequest:
    customer = payment.order.customer
    return PaymentRequest(
        reference=f"payment:{payment.pk}",
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method,
        customer_email=customer.email,
        customer_name=customer.name,
    )


def _today() -> str:
    return timezone.now().astimezone(ASAAS_TZ).date().isoformat()


# Money at the edge ------------------------------------------------------------------------------


def test_minor_units_and_decimals_convert_exactly():
    assert to_decimal(1999) == Decimal("19.99")
    assert str(to_decimal(10_000)) == "100.00"
    assert str(to_decimal(1)) == "0.01"
    assert to_minor(Decimal("19.99")) == 1999
    assert to_minor(Decimal("100.0")) == 10_000
    assert to_minor(100) == 10_000
    assert to_minor("0.1") == 10
    with pytest.raises(AsaasMoneyError):
        to_minor(0.1)  # never a float
    with pytest.raises(AsaasMoneyError):
        to_minor(Decimal("1.005"))  # a fraction of a centavo
    with pytest.raises(AsaasMoneyError):
        to_minor("abc")
    with pytest.raises(TypeError):
        to_decimal(1.5)  # type: ignore[arg-type]
    assert dumps({"value": to_decimal(1999), "n": [1, "a", None]}) == (
        b'{"value":19.99,"n":[1,"a",null]}'
    )
    with pytest.raises(TypeError):
        dumps({"value": 19.99})


def test_split_rules_from_settings():
    assert split_rules(["wal_a:10%", "wal_b:1500", "wal_c:12.5%"]) == [
        {"walletId": "wal_a", "percentualValue": Decimal("10")},
        {"walletId": "wal_b", "fixedValue": Decimal("15.00")},
        {"walletId": "wal_c", "percentualValue": Decimal("12.5")},
    ]
    for bad in ["nowallet", "w:", ":10%", "w:0%", "w:101%", "w:abc", "w:-5", "w:1.5"]:
        with pytest.raises(ImproperlyConfigured):
            split_rules([bad])


def test_status_mapping():
    assert payment_status({"status": "PENDING"}) == PaymentStatus.PENDING
    assert payment_status({"status": "OVERDUE"}) == PaymentStatus.PENDING
    for paid in ("CONFIRMED", "RECEIVED", "RECEIVED_IN_CASH", "REFUNDED", "CHARGEBACK_DISPUTE"):
        assert payment_status({"status": paid}) == PaymentStatus.SUCCEEDED
    assert payment_status({"status": "PENDING", "deleted": True}) == PaymentStatus.CANCELLED
    assert payment_status({"status": "SOMETHING_NEW"}) == PaymentStatus.PROCESSING


# Creating payments ------------------------------------------------------------------------------


def test_pix_payment_with_qr_code(fake_asaas: FakeAsaas, provider: AsaasPaymentProvider):
    payment = _payment(PaymentMethod.PIX, amount=12_345, tax_document="52998224725")
    answer = provider.create_payment(request=_request(payment))

    assert answer.provider_payment_id.startswith("pay_")
    assert answer.status == PaymentStatus.PENDING
    assert answer.amount == 12_345
    assert answer.currency == "BRL"
    assert answer.billing_type == "PIX"
    assert answer.pix_payload.startswith("000201")
    assert answer.pix_encoded_image.startswith("iVBOR")
    due = (timezone.now().astimezone(ASAAS_TZ).date() + timedelta(days=1)).isoformat()
    assert answer.pix_expires_at == datetime.fromisoformat(f"{due} 23:59:59").replace(
        tzinfo=ASAAS_TZ
    ).astimezone(UTC)

    (customer_post,) = fake_asaas.requests_to("POST", "/customers")
    assert customer_post.body["cpfCnpj"] == "52998224725"
    assert customer_post.body["externalReference"] == f"customer:{payment.order.customer.pk}"
    (create,) = fake_asaas.requests_to("POST", "/payments")
    assert create.body["billingType"] == "PIX"
    assert create.body["value"] == Decimal("123.45")
    assert b'"value":123.45' in create.raw
    assert create.body["externalReference"] == f"payment:{payment.pk}"
    assert create.body["dueDate"] == due
    assert create.headers["access_token"] == API_KEY
    assert create.headers["content-type"] == "application/json"
    assert create.headers["idempotency-key"] == f"payment:{payment.pk}"
    assert "split" not in create.body
    assert (
        len(fake_asaas.requests_to("GET", f"/payments/{answer.provider_payment_id}/pixQrCode")) == 1
    )
    # Linked to our payment in the ledger.
    assert (
        ProviderCall.objects.filter(operation="payment.create", subject_id=str(payment.pk)).count()
        == 1
    )


def test_boleto_payment_has_due_date_and_slip(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    payment = _payment(PaymentMethod.BOLETO)
    answer = provider.create_payment(request=_request(payment))
    assert answer.billing_type == "BOLETO"
    assert answer.due_date == timezone.now().astimezone(ASAAS_TZ).date() + timedelta(days=3)
    assert answer.bank_slip_url.startswith("https://sandbox.asaas.com/b/pdf/")
    assert answer.pix_payload == ""
    assert not fake_asaas.requests_to("GET", f"/payments/{answer.provider_payment_id}/pixQrCode")


def test_card_payment_goes_to_the_hosted_invoice(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    payment = _payment(PaymentMethod.CARD)
    answer = provider.create_payment(request=_request(payment))
    (create,) = fake_asaas.requests_to("POST", "/payments")
    assert create.body["billingType"] == "CREDIT_CARD"
    assert create.body["dueDate"] == _today()
    assert "creditCard" not in create.body  # no card data ever passes through us
    assert answer.invoice_url.startswith("https://sandbox.asaas.com/i/")


def test_split_fixed_and_percentage_go_out_as_exact_decimals(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider, settings
):
    settings.ASAAS_SPLIT = ["wallet-a:10%", "wallet-b:1500", "wallet-c:2.5%"]
    payment = _payment(PaymentMethod.PIX, amount=19_990)
    provider.create_payment(request=_request(payment))
    (create,) = fake_asaas.requests_to("POST", "/payments")
    assert create.body["value"] == Decimal("199.90")
    assert create.body["split"] == [
        {"walletId": "wallet-a", "percentualValue": Decimal("10")},
        {"walletId": "wallet-b", "fixedValue": Decimal("15.00")},
        {"walletId": "wallet-c", "percentualValue": Decimal("2.5")},
    ]
    assert b'"fixedValue":15.00' in create.raw
    assert b'"percentualValue":2.5' in create.raw
    assert b'"value":199.90' in create.raw


def test_create_is_idempotent_and_reuses_the_customer(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    customer = make_asaas_customer(email="maria@example.test")
    first = payment_create(
        order=make_order(customer=customer), provider="asaas", method=PaymentMethod.PIX
    )
    a = provider.create_payment(request=_request(first))
    again = provider.create_payment(request=_request(first))
    assert again.provider_payment_id == a.provider_payment_id
    assert len(fake_asaas.requests_to("POST", "/payments")) == 1

    second = payment_create(
        order=make_order(customer=customer), provider="asaas", method=PaymentMethod.BOLETO
    )
    b = provider.create_payment(request=_request(second))
    assert b.provider_payment_id != a.provider_payment_id
    assert len(fake_asaas.requests_to("POST", "/customers")) == 1  # found by CPF
    creates = fake_asaas.requests_to("POST", "/payments")
    assert creates[0].body["customer"] == creates[1].body["customer"]


@pytest.mark.parametrize(
    ("faults", "posts"),
    [(("timeout_after_apply",), 1), (("timeout",), 2), (("500", "500"), 3)],
)
def test_create_after_faults_charges_once(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider, faults: tuple[str, ...], posts: int
):
    payment = _payment(PaymentMethod.BOLETO)
    fake_asaas.fail("POST", "/payments", *faults)
    answer = provider.create_payment(request=_request(payment))
    assert len(fake_asaas.requests_to("POST", "/payments")) == posts
    assert list(fake_asaas.payments) == [answer.provider_payment_id]
    assert len(fake_asaas.customers) == 1  # found again by e-mail on every attempt
    _assert_no_secret_in_ledger()


def test_non_brl_and_unknown_method_are_rejected_before_any_call(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    with pytest.raises(ProviderRejected):
        provider.create_payment(
            request=PaymentRequest(reference="payment:1", amount=100, currency="USD", method="pix")
        )
    with pytest.raises(ProviderRejected):
        provider.create_payment(
            request=PaymentRequest(reference="payment:1", amount=100, currency="BRL", method="cash")
        )
    assert fake_asaas.seen == []


def test_wrong_api_key_is_a_rejection(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider, settings
):
    settings.ASAAS_API_KEY = "$aact_hmlg_wrong"
    payment = _payment(PaymentMethod.PIX)
    with pytest.raises(ProviderRejected) as caught:
        provider.create_payment(request=_request(payment))
    assert caught.value.status_code == 401
    assert "$aact_hmlg_wrong" not in str(caught.value)


def test_retrieve(fake_asaas: FakeAsaas, provider: AsaasPaymentProvider):
    payment = _payment(PaymentMethod.PIX, amount=5_050)
    created = provider.create_payment(request=_request(payment))
    fake_asaas.set_status(created.provider_payment_id, "RECEIVED")
    seen = provider.retrieve(provider_payment_id=created.provider_payment_id)
    assert seen.status == PaymentStatus.SUCCEEDED
    assert seen.amount == 5_050


# Refunds ----------------------------------------------------------------------------------------


def _paid_at_asaas(
    fake: FakeAsaas, provider: AsaasPaymentProvider, amount: int = 10_000
) -> Payment:
    payment = _payment(PaymentMethod.PIX, amount=amount)
    answer = provider.create_payment(request=_request(payment))
    fake.set_status(answer.provider_payment_id, "RECEIVED")
    payment.provider_payment_id = answer.provider_payment_id
    payment.status = PaymentStatus.SUCCEEDED
    payment.save()
    return payment


def _approved_refund(payment: Payment, amount: int | None = None):
    support = make_staff(f"support{payment.pk}-{amount}")
    finance = make_staff(f"finance{payment.pk}-{amount}")
    refund = refund_request(payment=payment, requested_by=support, reason="other", amount=amount)
    return refund_approve(refund=refund, approver=finance)


def _refund_request(payment: Payment, refund) -> RefundRequest:
    return RefundRequest(
        reference=refund.idempotency_key,
        provider_payment_id=payment.provider_payment_id,
        amount=refund.amount,
        currency=refund.currency,
    )


def test_partial_then_full_refund(fake_asaas: FakeAsaas, provider: AsaasPaymentProvider):
    payment = _paid_at_asaas(fake_asaas, provider)
    first = _approved_refund(payment, 4_000)
    answer = provider.refund(request=_refund_request(payment, first))
    assert answer.status == "processing"
    assert answer.amount == 4_000
    assert answer.provider_refund_id == f"{payment.provider_payment_id}:refund:{first.pk}"
    (post,) = fake_asaas.requests_to("POST", f"/payments/{payment.provider_payment_id}/refund")
    assert post.body == {"value": Decimal("40.00"), "description": f"refund:{first.pk}"}
    assert b'"value":40.00' in post.raw

    rest = _approved_refund(payment)  # everything still refundable: 60.00
    assert rest.amount == 6_000
    provider.refund(request=_refund_request(payment, rest))
    refunds = fake_asaas.refunds_of(payment.provider_payment_id)
    assert [(r["value"], r["description"]) for r in refunds] == [
        (Decimal("40.00"), f"refund:{first.pk}"),
        (Decimal("60.00"), f"refund:{rest.pk}"),
    ]
    # Asaas refuses more than what was received: terminal, not retried.
    with pytest.raises(ProviderRejected) as caught:
        provider.refund(
            request=RefundRequest(
                reference="refund:999999",
                provider_payment_id=payment.provider_payment_id,
                amount=1,
                currency="BRL",
            )
        )
    assert caught.value.status_code == 400


def test_refund_is_idempotent(fake_asaas: FakeAsaas, provider: AsaasPaymentProvider):
    payment = _paid_at_asaas(fake_asaas, provider)
    refund = _approved_refund(payment)
    one = provider.refund(request=_refund_request(payment, refund))
    two = provider.refund(request=_refund_request(payment, refund))
    assert one.provider_refund_id == two.provider_refund_id
    assert len(fake_asaas.refunds_of(payment.provider_payment_id)) == 1


@pytest.mark.parametrize(
    ("faults", "posts"),
    [
        (("timeout_after_apply",), 1),  # applied, the answer came too late: found, not resent
        (("timeout",), 2),  # not applied, no answer: sent again
        (("500",), 2),
        (("500", "timeout_after_apply"), 2),
    ],
)
def test_refund_after_faults_refunds_exactly_once(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider, faults: tuple[str, ...], posts: int
):
    payment = _paid_at_asaas(fake_asaas, provider)
    refund = _approved_refund(payment, 2_500)
    path = f"/payments/{payment.provider_payment_id}/refund"
    fake_asaas.fail("POST", path, *faults)
    answer = provider.refund(request=_refund_request(payment, refund))
    assert answer.amount == 2_500
    refunds = fake_asaas.refunds_of(payment.provider_payment_id)
    assert [(r["value"], r["description"]) for r in refunds] == [
        (Decimal("25.00"), f"refund:{refund.pk}")
    ]
    calls = ProviderCall.objects.filter(provider="asaas", operation="payment.refund")
    assert calls.count() == posts
    assert len(fake_asaas.requests_to("POST", path)) == posts
    assert {c.idempotency_key for c in calls} == {f"refund:{refund.pk}"}
    _assert_no_secret_in_ledger()


def test_refund_gives_up_when_asaas_stays_down(
    fake_asaas: FakeAsaas, provider: AsaasPaymentProvider
):
    payment = _paid_at_asaas(fake_asaas, provider)
    refund = _approved_refund(payment)
    fake_asaas.fail("POST", f"/payments/{payment.provider_payment_id}/refund", "500", "500", "500")
    with pytest.raises(ProviderUnavailable):
        provider.refund(request=_refund_request(payment, refund))
    assert fake_asaas.refunds_of(payment.provider_payment_id) == []
    # Retried later (the task queue): the refund goes through once.
    provider.refund(request=_refund_request(payment, refund))
    assert len(fake_asaas.refunds_of(payment.provider_payment_id)) == 1
    _assert_no_secret_in_ledger()


def _assert_no_secret_in_ledger() -> None:
    rows = list(ProviderCall.objects.values())
    assert rows
    for row in rows:
        for column, value in row.items():
            assert API_KEY not in str(value), column
            assert "aact_hmlg" not in str(value), column
