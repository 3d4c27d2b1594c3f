"""StripePaymentProvider against the fake Stripe on 127.0.0.1: the SDK's requests, idempotency
keys, status mapping, error mapping, fault injection with retries (never a double refund) and the
ProviderCall ledger (never the secret key)."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from integrations.exceptions import ProviderRejected, ProviderUnavailable
from integrations.models import DomainEvent, ProviderCall
from payments.models import Payment, PaymentMethod, PaymentStatus, Refund, RefundStatus
from payments.providers import get_payment_provider
from payments.providers.base import PaymentRequest, RefundRequest
from payments.providers.stripe.adapter import StripePaymentProvider, payment_status
from payments.services import (
    payment_attach_provider_id,
    payment_create,
    payment_mark_succeeded,
    refund_approve,
    refund_request,
)
from payments.subscribers import execute_approved_refund
from tests.factories import make_order, make_staff
from tests.support.fake_stripe import API_KEY, FakeStripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider() -> StripePaymentProvider:
    return StripePaymentProvider()


def _request(payment: Payment) -> PaymentRequest:
    return PaymentRequest(
        reference=f"payment:{payment.pk}",
        amount=payment.amount,
        currency=payment.currency,
        method=payment.method,
    )


def _payment(amount: int = 10_000, method: str = PaymentMethod.CARD) -> Payment:
    return payment_create(order=make_order(amount=amount), provider="stripe", method=method)


def _assert_no_secret_in_ledger() -> None:
    for call in ProviderCall.objects.all():
        for value in (call.url, call.error, call.idempotency_key, call.operation, call.subject_id):
            assert API_KEY not in value
            assert "sk_test" not in value


def test_create_payment_sends_the_documented_form_with_our_key(
    provider, fake_stripe: FakeStripe
) -> None:
    payment = _payment()

    answer = provider.create_payment(request=_request(payment))

    (seen,) = fake_stripe.requests_to("/v1/payment_intents")
    assert seen.form["amount"] == "10000"
    assert seen.form["currency"] == "brl"
    assert seen.form["metadata[reference]"] == f"payment:{payment.pk}"
    assert seen.form["allowed_payment_method_types[0]"] == "card"
    assert "confirm" not in seen.form
    assert seen.headers["idempotency-key"] == f"payment:{payment.pk}"
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert seen.headers["stripe-version"]
    assert answer.provider_payment_id.startswith("pi_")
    assert answer.status == PaymentStatus.PENDING
    assert (answer.amount, answer.currency) == (10_000, "BRL")
    (call,) = ProviderCall.objects.all()
    assert (call.provider, call.operation, call.method, call.outcome, call.status_code) == (
        "stripe",
        "create_payment",
        "POST",
        "success",
        200,
    )
    assert call.url == f"{fake_stripe.url}/v1/payment_intents"
    assert call.idempotency_key == f"payment:{payment.pk}"
    assert call.subject_type == ContentType.objects.get_for_model(Payment)
    assert call.subject_id == str(payment.pk)
    _assert_no_secret_in_ledger()


def test_create_payment_is_idempotent_on_the_reference(provider, fake_stripe) -> None:
    payment = _payment()

    first = provider.create_payment(request=_request(payment))
    second = provider.create_payment(request=_request(payment))

    assert first == second
    assert len(fake_stripe.intents) == 1
    assert len(fake_stripe.requests_to("/v1/payment_intents")) == 2


def test_create_and_confirm_with_a_test_payment_method(provider, fake_stripe, settings) -> None:
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    payment = _payment(method=PaymentMethod.BOLETO)

    answer = provider.create_payment(request=_request(payment))

    (seen,) = fake_stripe.requests_to("/v1/payment_intents")
    assert seen.form["confirm"] == "true"
    assert seen.form["payment_method"] == "pm_card_visa"
    assert seen.form["allowed_payment_method_types[0]"] == "boleto"
    assert answer.status == PaymentStatus.SUCCEEDED


def test_confirm_retrieve_cancel(provider, fake_stripe) -> None:
    first, second = _payment(), _payment()
    created = provider.create_payment(request=_request(first))
    reference = f"payment:{first.pk}"

    confirmed = provider.confirm_payment(
        provider_payment_id=created.provider_payment_id,
        reference=reference,
        payment_method="pm_card_visa",
    )
    assert confirmed.status == PaymentStatus.SUCCEEDED
    assert provider.retrieve(provider_payment_id=created.provider_payment_id) == confirmed
    (seen,) = fake_stripe.requests_to(f"/v1/payment_intents/{created.provider_payment_id}/confirm")
    assert seen.headers["idempotency-key"] == f"{reference}:confirm"
    # Stripe refuses to cancel a succeeded intent; the adapter answers what Stripe now says.
    too_late = provider.cancel(provider_payment_id=created.provider_payment_id, reference=reference)
    assert too_late.status == PaymentStatus.SUCCEEDED
    (refused,) = ProviderCall.objects.filter(operation="cancel_payment")
    assert (refused.status_code, refused.idempotency_key) == (400, f"{reference}:cancel")
    assert fake_stripe.intents[created.provider_payment_id]["status"] == "succeeded"

    other = provider.create_payment(request=_request(second))
    cancelled = provider.cancel(
        provider_payment_id=other.provider_payment_id, reference=f"payment:{second.pk}"
    )
    assert cancelled.status == PaymentStatus.CANCELLED
    (seen,) = fake_stripe.requests_to(f"/v1/payment_intents/{other.provider_payment_id}/cancel")
    assert seen.form == {"cancellation_reason": "abandoned"}
    assert seen.headers["idempotency-key"] == f"payment:{second.pk}:cancel"
    again = provider.cancel(
        provider_payment_id=other.provider_payment_id, reference=f"payment:{second.pk}"
    )
    assert again.status == PaymentStatus.CANCELLED  # idempotent: the stored answer
    retrieve_calls = ProviderCall.objects.filter(operation="retrieve_payment")
    assert [(c.method, c.idempotency_key) for c in retrieve_calls] == [("GET", ""), ("GET", "")]


def test_cancel_of_a_processing_intent_is_rejected(provider, fake_stripe) -> None:
    payment = _payment()
    created = provider.create_payment(request=_request(payment))
    fake_stripe.intents[created.provider_payment_id]["status"] = "processing"

    with pytest.raises(ProviderRejected, match="payment_intent_unexpected_state"):
        provider.cancel(
            provider_payment_id=created.provider_payment_id, reference=f"payment:{payment.pk}"
        )
    assert fake_stripe.intents[created.provider_payment_id]["status"] == "processing"


@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    [
        ("requires_payment_method", "pending"),
        ("requires_confirmation", "pending"),
        ("requires_action", "pending"),
        ("requires_capture", "pending"),
        ("processing", "processing"),
        ("succeeded", "succeeded"),
        ("canceled", "cancelled"),
    ],
)
def test_status_mapping(stripe_status: str, ours: str) -> None:
    assert payment_status(stripe_status) == ours


def test_a_declined_card_is_rejected_and_not_retried(provider, fake_stripe) -> None:
    payment = _payment()
    created = provider.create_payment(request=_request(payment))

    with pytest.raises(ProviderRejected) as caught:
        provider.confirm_payment(
            provider_payment_id=created.provider_payment_id,
            reference=f"payment:{payment.pk}",
            payment_method="pm_card_chargeDeclined",
        )

    assert caught.value.status_code == 402
    assert "card_error" in caught.value.detail and "card_declined" in caught.value.detail
    assert (
        len(fake_stripe.requests_to(f"/v1/payment_intents/{created.provider_payment_id}/confirm"))
        == 1
    )


def test_unknown_intent_and_bad_key_are_rejected(provider, fake_stripe, settings) -> None:
    with pytest.raises(ProviderRejected) as caught:
        provider.retrieve(provider_payment_id="pi_missing")
    assert caught.value.status_code == 404

    settings.STRIPE_SECRET_KEY = "sk_test_wrong_key_123456"
    with pytest.raises(ProviderRejected) as caught:
        provider.retrieve(provider_payment_id="pi_missing")
    assert caught.value.status_code == 401
    for call in ProviderCall.objects.all():
        assert "sk_test_wrong_key_123456" not in f"{call.url} {call.error}"


def test_429_and_5xx_exhausted_are_unavailable(provider, fake_stripe, settings) -> None:
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    payment = _payment()
    fake_stripe.inject("/v1/payment_intents", "rate_limit_429", "rate_limit_429")

    with pytest.raises(ProviderUnavailable):
        provider.create_payment(request=_request(payment))

    fake_stripe.inject("/v1/payment_intents", "edge_503", "edge_503")
    with pytest.raises(ProviderUnavailable):
        provider.create_payment(request=_request(payment))
    assert not fake_stripe.intents
    assert list(ProviderCall.objects.order_by("id").values_list("status_code", flat=True)) == [
        429,
        429,
        503,
        503,
    ]


def test_connection_refused_is_unavailable(provider, settings) -> None:
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    with pytest.raises(ProviderUnavailable):
        provider.retrieve(provider_payment_id="pi_x")
    assert ProviderCall.objects.filter(outcome="connection_error").exists()


# --- refunds ---------------------------------------------------------------------------------


@pytest.fixture
def paid(provider, settings) -> Payment:
    settings.STRIPE_CONFIRM_PAYMENT_METHOD = "pm_card_visa"
    payment = _payment(amount=10_000)
    answer = provider.create_payment(request=_request(payment))
    payment = payment_attach_provider_id(
        payment=payment, provider_payment_id=answer.provider_payment_id
    )
    return payment_mark_succeeded(payment=payment)


def _refund_request(payment: Payment, pk: int, amount: int) -> RefundRequest:
    return RefundRequest(
        reference=f"refund:{pk}",
        provider_payment_id=payment.provider_payment_id,
        amount=amount,
        currency=payment.currency,
    )


def test_partial_and_full_refunds(provider, fake_stripe, paid) -> None:
    first = provider.refund(request=_refund_request(paid, 1, 4_000))
    again = provider.refund(request=_refund_request(paid, 1, 4_000))  # a retry: same refund
    second = provider.refund(request=_refund_request(paid, 2, 6_000))

    assert first == again
    assert (first.amount, first.status) == (4_000, "succeeded")
    assert second.amount == 6_000
    assert sorted(r["amount"] for r in fake_stripe.refunds.values()) == [4_000, 6_000]
    seen = fake_stripe.requests_to("/v1/refunds")
    assert seen[0].form == {
        "payment_intent": paid.provider_payment_id,
        "amount": "4000",
        "metadata[reference]": "refund:1",
    }
    assert [s.headers["idempotency-key"] for s in seen] == ["refund:1", "refund:1", "refund:2"]

    with pytest.raises(ProviderRejected, match="amount_too_large"):
        provider.refund(request=_refund_request(paid, 3, 1))
    with pytest.raises(ProviderRejected, match="idempotency_error"):
        provider.refund(request=_refund_request(paid, 1, 3_000))  # same key, other amount


def test_refund_pending_status_is_processing(provider, fake_stripe, paid) -> None:
    fake_stripe.refund_status = "pending"
    assert provider.refund(request=_refund_request(paid, 1, 100)).status == "processing"


@pytest.mark.parametrize("fault", ["timeout_after", "timeout_before", "edge_503"])
def test_a_refund_that_times_out_or_5xx_is_retried_with_the_same_key_exactly_one_refund(
    provider, fake_stripe, paid, fault
) -> None:
    fake_stripe.inject("/v1/refunds", fault)

    answer = provider.refund(request=_refund_request(paid, 7, 10_000))

    assert len(fake_stripe.refunds) == 1
    assert answer.provider_refund_id in fake_stripe.refunds
    seen = fake_stripe.requests_to("/v1/refunds")
    assert [s.headers["idempotency-key"] for s in seen] == ["refund:7", "refund:7"]
    calls = list(ProviderCall.objects.filter(operation="refund").order_by("id"))
    expected_first = "timeout" if fault.startswith("timeout") else "http_error"
    assert [(c.attempt, c.outcome) for c in calls] == [(1, expected_first), (2, "success")]
    assert {c.idempotency_key for c in calls} == {"refund:7"}
    assert {c.subject_id for c in calls} == {"7"}
    _assert_no_secret_in_ledger()


def test_an_api_500_is_replayed_for_the_same_key_like_stripe_and_nothing_is_refunded(
    provider, fake_stripe, paid
) -> None:
    fake_stripe.inject("/v1/refunds", "api_500")

    with pytest.raises(ProviderUnavailable):
        provider.refund(request=_refund_request(paid, 8, 1_000))

    assert not fake_stripe.refunds
    seen = fake_stripe.requests_to("/v1/refunds")
    assert len(seen) == 3  # OUTBOUND_MAX_ATTEMPTS, each answered with the stored 500
    assert (
        list(ProviderCall.objects.filter(operation="refund").values_list("status_code", flat=True))
        == [500] * 3
    )


def test_the_refund_task_retried_after_an_outage_refunds_exactly_once(
    fake_stripe, paid, settings
) -> None:
    """Through the real subscriber: the first delivery times out after Stripe applied the refund
    and then hits a 503; the retried delivery gets Stripe's stored answer for ``refund:<pk>``."""
    settings.OUTBOUND_MAX_ATTEMPTS = 2
    Payment.objects.filter(pk=paid.pk).update(provider="stripe")
    refund = refund_request(
        payment=paid, requested_by=make_staff("support-a"), reason="other", amount=3_000
    )
    refund = refund_approve(refund=refund, approver=make_staff("finance-a"))
    approved = DomainEvent.objects.get(type="refund.approved", subject_id=str(refund.pk))
    assert isinstance(get_payment_provider("stripe"), StripePaymentProvider)
    fake_stripe.inject("/v1/refunds", "timeout_after", "edge_503")

    with pytest.raises(ProviderUnavailable):
        execute_approved_refund(approved)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert len(fake_stripe.refunds) == 1  # applied at Stripe, answer lost

    execute_approved_refund(approved)

    refund.refresh_from_db()
    (stripe_refund,) = fake_stripe.refunds.values()
    assert refund.status == RefundStatus.PROCESSING
    assert refund.provider_refund_id == stripe_refund["id"]
    assert stripe_refund["amount"] == 3_000
    assert stripe_refund["metadata"] == {"reference": f"refund:{refund.pk}"}
    calls = list(ProviderCall.objects.filter(operation="refund").order_by("id"))
    assert [(c.attempt, c.outcome, c.status_code) for c in calls] == [
        (1, "timeout", None),
        (2, "http_error", 503),
        (1, "success", 200),
    ]
    assert {c.idempotency_key for c in calls} == {refund.idempotency_key}
    assert {c.subject_type for c in calls} == {ContentType.objects.get_for_model(Refund)}
    _assert_no_secret_in_ledger()


def test_gateway_refuses_without_a_key(provider, settings) -> None:
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(ProviderRejected):
        provider.retrieve(provider_payment_id="pi_x")
