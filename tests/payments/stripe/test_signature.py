"""``Stripe-Signature`` verification: the CONTRACTS test vector, rotation, forged, stale and future
signatures (401, nothing stored or processed)."""

from __future__ import annotations

import json
import time

import pytest

from integrations.models import WebhookEvent, WebhookRejection
from integrations.webhooks.registry import SignatureRejected
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.providers.stripe.client import sign_payload, verify_signature
from payments.services import payment_create
from tests.factories import make_order
from tests.payments.stripe.conftest import OLD_SECRET, SECRET, load_event, signature

VECTOR_SECRET = "whsec_test_secret"
VECTOR_BODY = '{"id":"evt_test_webhook","object":"event"}'
VECTOR_T = 1700000000
VECTOR_V1 = "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"


def test_contracts_test_vector() -> None:
    header = sign_payload(body=VECTOR_BODY, secret=VECTOR_SECRET, timestamp=VECTOR_T)
    assert header == f"t={VECTOR_T},v1={VECTOR_V1}"
    verify_signature(
        body=VECTOR_BODY.encode(),
        header=header,
        secrets=[VECTOR_SECRET],
        tolerance=300,
        now=VECTOR_T + 299,
    )
    with pytest.raises(SignatureRejected, match="tolerance"):
        verify_signature(
            body=VECTOR_BODY.encode(),
            header=header,
            secrets=[VECTOR_SECRET],
            tolerance=300,
            now=VECTOR_T + 301,
        )
    with pytest.raises(SignatureRejected):  # the real clock: the vector is long stale
        verify_signature(
            body=VECTOR_BODY.encode(), header=header, secrets=[VECTOR_SECRET], tolerance=300
        )


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={VECTOR_V1}",  # no t
        f"t={VECTOR_T}",  # no v1
        f"t={VECTOR_T},v0={VECTOR_V1}",  # only the ignored scheme
        f"t={VECTOR_T},v1={'0' * 64}",
        f"t=abc,v1={VECTOR_V1}",
    ],
)
def test_malformed_or_wrong_headers_are_rejected(header: str) -> None:
    with pytest.raises(SignatureRejected):
        verify_signature(
            body=VECTOR_BODY.encode(),
            header=header,
            secrets=[VECTOR_SECRET],
            tolerance=300,
            now=VECTOR_T,
        )


def test_the_secret_is_used_as_is_not_base64_decoded() -> None:
    header = sign_payload(body=VECTOR_BODY, secret="whsec_dGVzdA==", timestamp=VECTOR_T)
    with pytest.raises(SignatureRejected):
        verify_signature(
            body=VECTOR_BODY.encode(),
            header=header,
            secrets=["whsec_test"],
            tolerance=300,
            now=VECTOR_T,
        )


def test_no_secret_configured_rejects_everything() -> None:
    header = sign_payload(body=VECTOR_BODY, secret=VECTOR_SECRET, timestamp=VECTOR_T)
    with pytest.raises(SignatureRejected):
        verify_signature(
            body=VECTOR_BODY.encode(), header=header, secrets=["", " "], tolerance=300, now=VECTOR_T
        )


@pytest.fixture
def payment(db: None) -> Payment:
    return payment_create(
        order=make_order(amount=2000), provider="stripe", method=PaymentMethod.CARD
    )


def _succeeded(payment: Payment, event_id: str = "evt_sig_1") -> str:
    return json.dumps(
        load_event(
            "payment_intent.succeeded",
            event_id=event_id,
            created=int(time.time()),
            id="pi_sig",
            metadata={"reference": f"payment:{payment.pk}"},
        )
    )


@pytest.mark.django_db
def test_rotation_two_v1_either_secret_is_valid(settings, post_event, payment) -> None:
    settings.STRIPE_WEBHOOK_SECRETS = [OLD_SECRET, SECRET]
    other = "whsec_someone_else"

    body = _succeeded(payment, "evt_rot_old")
    assert post_event(body, secrets=(other, OLD_SECRET)).status_code == 200
    body = _succeeded(payment, "evt_rot_new")
    assert post_event(body, secrets=(SECRET,)).status_code == 200
    body = _succeeded(payment, "evt_rot_both")
    assert post_event(body, secrets=(SECRET, OLD_SECRET)).status_code == 200

    settings.STRIPE_WEBHOOK_SECRETS = [SECRET]  # rotation over: the old one no longer works
    body = _succeeded(payment, "evt_rot_late")
    assert post_event(body, secrets=(OLD_SECRET,)).status_code == 401
    assert set(WebhookEvent.objects.values_list("event_id", flat=True)) == {
        "evt_rot_old",
        "evt_rot_new",
        "evt_rot_both",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "case",
    ["forged", "tampered_body", "stale", "future", "missing"],
)
def test_bad_signatures_are_401_and_nothing_is_processed(post_event, payment, case) -> None:
    body = _succeeded(payment)
    now = int(time.time())
    header = {
        "forged": signature(body, secrets=("whsec_attacker",)),
        "tampered_body": signature(body.replace("2000", "1"), secrets=(SECRET,)),
        "stale": signature(body, at=now - 301),
        "future": signature(body, at=now + 301),
        "missing": "",
    }[case]

    response = post_event(body, header=header)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert WebhookRejection.objects.count() == 1
    rejection = WebhookRejection.objects.get()
    assert "stripe-signature" not in {k.lower() for k in (rejection.headers or {})}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


@pytest.mark.django_db
def test_within_tolerance_either_side_is_accepted(post_event, payment) -> None:
    now = int(time.time())
    assert post_event(_succeeded(payment, "evt_past"), at=now - 250).status_code == 200
    assert post_event(_succeeded(payment, "evt_future"), at=now + 250).status_code == 200
