"""Hostile Stripe deliveries through /webhooks/stripe/: nothing a sender controls yields a 500.

A bad ``Stripe-Signature`` timestamp is a 401; a correctly signed body that is too deep, carries
an out-of-range ``created`` or an amount past 64 bits is a 400 and nothing is stored; an amount
that is not a JSON integer is an amount mismatch, flagged, never applied.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent, WebhookRejection
from payments.models import (
    Dispute,
    Payment,
    PaymentMethod,
    PaymentStatus,
    ReconciliationException,
    Refund,
    RefundStatus,
)
from payments.providers.stripe.client import sign_payload
from payments.services import payment_create, payment_mark_succeeded, refund_approve, refund_request
from tests.factories import make_order, make_staff
from tests.integrations.webhooks.hostile import hostile_body
from tests.payments.stripe.conftest import SECRET, load_event, signature

pytestmark = pytest.mark.django_db


def _payment(amount: int = 4990) -> Payment:
    return payment_create(
        order=make_order(amount=amount), provider="stripe", method=PaymentMethod.CARD
    )


def _succeeded(payment: Payment, *, event_id: str = "evt_h1", **obj: Any) -> dict[str, Any]:
    obj.setdefault("id", f"pi_{payment.pk}")
    obj.setdefault("amount", payment.amount)
    obj.setdefault("currency", "brl")
    obj.setdefault("metadata", {"reference": f"payment:{payment.pk}"})
    return load_event(
        "payment_intent.succeeded", event_id=event_id, created=int(time.time()), **obj
    )


def _nothing_stored_or_applied(payment: Payment) -> None:
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert not ReconciliationException.objects.exists()


# --- Stripe-Signature timestamp ----------------------------------------------------------------


REFUSED_BEFORE_ANY_SECRET = {
    "Unable to extract timestamp from Stripe-Signature.",
    "Stripe-Signature is not ASCII.",
}


def _digits(text: str, zero: int) -> str:
    return "".join(chr(zero + int(d)) for d in text)


@pytest.mark.parametrize(
    "spell",
    [
        lambda t: "²",
        lambda t: "³" + t,
        lambda t: _digits(t, 0x0660),  # Arabic-Indic: int() reads them as the same number
        lambda t: _digits(t, 0xFF10),  # fullwidth
        lambda t: t + ".0",
        lambda t: " " + t,
        lambda t: "9" * 4000,
        lambda t: "",
    ],
    ids=[
        "superscript",
        "superscript-prefix",
        "arabic-indic",
        "fullwidth",
        "fraction",
        "space",
        "4000-digits",
        "empty",
    ],
)
def test_a_timestamp_not_in_ascii_digits_is_401_before_any_secret_is_tried(
    post_event, spell
) -> None:
    payment = _payment()
    body = json.dumps(_succeeded(payment))
    header = signature(body)  # valid for the ASCII timestamp
    ascii_t = header.split(",", 1)[0].removeprefix("t=")
    header = header.replace(f"t={ascii_t}", f"t={spell(ascii_t)}", 1)

    response = post_event(body, header=header)

    assert response.status_code == 401
    assert WebhookRejection.objects.get().reason in REFUSED_BEFORE_ANY_SECRET
    _nothing_stored_or_applied(payment)


def test_a_superscript_timestamp_is_401_even_with_no_secret_configured(post_event, settings):
    settings.STRIPE_WEBHOOK_SECRETS = []
    payment = _payment()
    body = json.dumps(_succeeded(payment))
    response = post_event(body, header="t=²,v1=" + "0" * 64)
    assert response.status_code == 401
    _nothing_stored_or_applied(payment)


# --- correctly signed, malformed bodies --------------------------------------------------------


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "change",
    [
        {"created": 10**12},
        {"created": 2**62},
        {"created": -1},
        {"created": True},
        {"created": 1.7e9},
        {"obj": {"amount": 2**63}},
        {"obj": {"amount": -(2**63) - 1}},
        {"obj": {"amount": 10**30}},
        {"obj": {"amount": 1e19}},
        {"obj": {"metadata": {"reference": "x", "deep": "PLACEHOLDER"}}},
        {"obj": {"description": "nul \u0000 inside"}},
    ],
    ids=[
        "created-1e12",
        "created-2**62",
        "created-negative",
        "created-bool",
        "created-float",
        "amount-2**63",
        "amount-below-int64",
        "amount-1e30",
        "amount-float-past-int64",
        "nested-10000-deep",
        "nul-in-a-string",
    ],
)
def test_a_signed_malformed_event_is_400_and_nothing_is_stored(post_event, change) -> None:
    payment = _payment()
    event = _succeeded(payment, **change.get("obj", {}))
    event.update({k: v for k, v in change.items() if k != "obj"})
    body = json.dumps(event).replace('"PLACEHOLDER"', "[" * 10_000 + "]" * 10_000)

    response = post_event(body)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "malformed"
    assert not WebhookRejection.objects.exists()
    _nothing_stored_or_applied(payment)


def test_created_at_the_edges_of_the_window_is_stored(post_event) -> None:
    # The control for the out-of-range cases: 1970 and a far but representable future.
    payment = _payment()
    for event_id, created in (("evt_epoch", 0), ("evt_far", 32503680000)):  # 1970, 3000
        event = _succeeded(payment, event_id=event_id, metadata={}, id="pi_other")
        event["created"] = created
        assert post_event(event).status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_the_largest_64_bit_amount_is_stored_and_flagged_as_a_mismatch(post_event) -> None:
    payment = _payment()

    response = post_event(_succeeded(payment, amount=2**63 - 1))

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert ReconciliationException.objects.get().kind == "amount_mismatch"


# --- amounts that are not JSON integers --------------------------------------------------------


@pytest.mark.parametrize("amount", [4990.0, "4990", True], ids=["float", "string", "bool"])
def test_a_payment_amount_that_is_not_an_integer_is_a_mismatch_not_applied(
    post_event, amount
) -> None:
    payment = _payment(amount=4990)

    response = post_event(_succeeded(payment, amount=amount))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    assert payment.provider_payment_id == ""
    flagged = ReconciliationException.objects.get()
    assert flagged.kind == ReconciliationException.Kind.AMOUNT_MISMATCH
    assert flagged.payment == payment


def test_an_integer_amount_is_applied(post_event) -> None:
    # The control: the same event with 4990 as an integer marks the payment paid.
    payment = _payment(amount=4990)
    assert post_event(_succeeded(payment, amount=4990)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


@pytest.fixture
def paid() -> Payment:
    payment = _payment(amount=10_000)
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=f"pi_{payment.pk}")
    payment.refresh_from_db()
    return payment_mark_succeeded(payment=payment)


def test_a_refund_amount_that_is_a_float_is_a_mismatch_not_applied(post_event, paid) -> None:
    refund = refund_request(
        payment=paid, requested_by=make_staff("s1"), reason="other", amount=4_000
    )
    refund = refund_approve(refund=refund, approver=make_staff("f1"))
    event = load_event(
        "refund.updated",
        event_id="evt_re_float",
        created=int(time.time()),
        id=f"re_{refund.pk}",
        amount=4000.0,
        currency="brl",
        payment_intent=paid.provider_payment_id,
        metadata={"reference": f"refund:{refund.pk}"},
    )

    assert post_event(event).status_code == 200

    refund.refresh_from_db()
    paid.refresh_from_db()
    assert refund.status == RefundStatus.APPROVED
    assert paid.amount_refunded == 0
    assert ReconciliationException.objects.get().kind == "amount_mismatch"
    assert Refund.objects.count() == 1


def _dispute(payment: Payment, **obj: Any) -> dict[str, Any]:
    obj.setdefault("id", f"dp_{payment.pk}")
    obj.setdefault("amount", payment.amount)
    obj.setdefault("currency", "brl")
    obj.setdefault("payment_intent", payment.provider_payment_id)
    return load_event(
        "charge.dispute.created", event_id=f"evt_dp_{obj['id']}", created=int(time.time()), **obj
    )


@pytest.mark.parametrize("amount", [True, 10_000.0], ids=["bool", "float"])
def test_a_dispute_amount_that_is_not_an_integer_is_a_mismatch(post_event, paid, amount) -> None:
    assert post_event(_dispute(paid, amount=amount)).status_code == 200

    assert not Dispute.objects.exists()
    assert ReconciliationException.objects.get().kind == "amount_mismatch"


def test_a_dispute_due_date_out_of_range_fails_as_malformed_and_opens_nothing(
    post_event, paid
) -> None:
    event = _dispute(paid, evidence_details={"due_by": 10**12})

    response = post_event(event)

    assert response.status_code == 200  # stored: the envelope is sound
    stored = WebhookEvent.objects.get()
    assert stored.status == WebhookEvent.Status.DEAD
    assert stored.last_error.startswith("MalformedWebhook: ")
    assert not Dispute.objects.exists()
    paid.order.refresh_from_db()
    assert not paid.order.is_flagged


# --- STRIPE_WEBHOOK_SECRET as a comma list (rotation) ----------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("whsec_a, whsec_b", ["whsec_a", "whsec_b"]),
        (" whsec_a ,whsec_b ,", ["whsec_a", "whsec_b"]),
        ("whsec_a", ["whsec_a"]),
        ("", []),
    ],
)
def test_the_secret_list_is_split_on_commas_and_trimmed(monkeypatch, raw, expected) -> None:
    import config.settings.stripe as stripe_settings

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", raw)
    monkeypatch.delenv("STRIPE_ENABLED", raising=False)
    try:
        secrets = importlib.reload(stripe_settings).STRIPE_WEBHOOK_SECRETS
        assert secrets == expected
    finally:
        monkeypatch.undo()
        importlib.reload(stripe_settings)


def test_a_delivery_signed_with_the_second_secret_of_a_spaced_list_is_accepted(
    monkeypatch, settings, post_event
) -> None:
    import config.settings.stripe as stripe_settings

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"whsec_old_one, {SECRET}")
    try:
        settings.STRIPE_WEBHOOK_SECRETS = importlib.reload(stripe_settings).STRIPE_WEBHOOK_SECRETS
    finally:
        monkeypatch.undo()
        importlib.reload(stripe_settings)
    payment = _payment()
    body = json.dumps(_succeeded(payment))

    assert post_event(body, header=f"t={int(time.time())},v1=" + _v1(body)).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def _v1(body: str) -> str:
    header = sign_payload(body=body, secret=SECRET, timestamp=int(time.time()))
    return header.split("v1=", 1)[1]


# --- property: hostile bodies, correctly signed ----------------------------------------------

FIXTURE_NAMES = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "refund.updated",
    "charge.refunded",
    "charge.dispute.created",
]
stripe_events = st.builds(
    lambda name, reference: load_event(
        name,
        event_id=f"evt_{uuid.uuid4().hex}",
        created=int(time.time()),
        metadata={"reference": reference},
    ),
    st.sampled_from(FIXTURE_NAMES),
    st.sampled_from(["payment:1", "refund:1", ""]),
)


def _stripe_signed(body: bytes) -> str:
    timestamp = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=hostile_body(stripe_events))
def test_a_signed_hostile_stripe_body_never_gets_a_5xx(
    client, django_capture_on_commit_callbacks, body
) -> None:
    stored_before = WebhookEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/webhooks/stripe/",
            data=body,
            content_type="application/json",
            headers={"Stripe-Signature": _stripe_signed(body)},
        )

    assert response.status_code in (200, 400, 401), (response.status_code, body[:300])
    if response.status_code != 200:
        assert WebhookEvent.objects.count() == stored_before
    else:
        event = WebhookEvent.objects.get(pk=response.json()["id"])
        assert event.status != WebhookEvent.Status.RECEIVED


def test_a_non_ascii_signature_is_401_not_500(post_event) -> None:
    # The SDK compares str with hmac.compare_digest, which raises TypeError on non-ASCII.
    payment = _payment()
    body = json.dumps(_succeeded(payment))
    response = post_event(body, header=f"t={int(time.time())},v1=" + "é" * 64)
    assert response.status_code == 401
    _nothing_stored_or_applied(payment)


latin1_headers = st.text(
    alphabet=st.characters(max_codepoint=255, blacklist_characters="\r\n"), max_size=120
)


@hypothesis_settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prefix=st.sampled_from(["", "t={now},", "t={now},v1=", "v1=", "t="]),
    rest=latin1_headers,
)
def test_any_stripe_signature_header_is_answered_401_never_5xx(client, prefix, rest) -> None:
    header = prefix.format(now=int(time.time())) + rest
    response = client.post(
        "/webhooks/stripe/",
        data=b'{"id": "evt_x", "object": "event"}',
        content_type="application/json",
        headers={"Stripe-Signature": header},
    )
    assert response.status_code == 401, header
    assert not WebhookEvent.objects.exists()
