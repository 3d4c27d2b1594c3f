"""Hypothesis over every webhook endpoint with hostile bodies (deep nesting, numbers past 64 bits,
NaN/Infinity, wrong types, arrays where objects belong, NUL and lone surrogates, invalid UTF-8,
huge strings, empty bodies), each signed with the test secret so it reaches the parser:

- at the receiver: never a 5xx; a refusal (400) stores nothing;
- in processing: whatever the receiver stored is processed by the real handler without raising
  and ends processed, ignored, or failed/dead with its reason (a malformed one dead at once, so it
  is not retried forever);
- nothing is applied that should not be: a refused or failed event leaves the orders, payments,
  refunds and shipments tables as they were.

Bounded: FUZZ_WEBHOOK_EXAMPLES per endpoint (docs/fuzzing.md says how to run it longer)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db.models import Model
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from integrations.models import WebhookEvent
from integrations.webhooks.processing import webhook_event_process
from integrations.webhooks.registry import (
    get_webhook_endpoint,
    register_webhook_endpoint,
    unregister_webhook_endpoint,
)
from orders.models import Order
from payments.models import Payment, Refund
from shipping.models import Shipment
from tests.fuzz.targets import TARGETS, TWILIO_SETTINGS, Target, twilio_signature
from tests.integrations.webhooks.hostile import HOSTILE_TEXTS, hostile_body

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_WEBHOOK_EXAMPLES", "40"))
DOMAIN: list[type[Model]] = [Order, Payment, Refund, Shipment]
Status = WebhookEvent.Status
SETTLED = {Status.PROCESSED, Status.IGNORED, Status.FAILED, Status.DEAD}

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking in CI: the failure prints its body
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

extra_hostile = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b"[{}]",
        b'"a string"',
        b"12345678901234567890123",
        b"{}",
        b"\xff\xfe\xfd",
        b'{"a": "\xc3\x28"}',
        b'{"id": "' + b"x" * 900_000 + b'"}',
        b"[" * 100_000,
        b'{"type": ' + b"9" * 10_000 + b"}",
    ]
)


def _domain_rows() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in DOMAIN}


@pytest.fixture
def enable(settings: Any) -> Iterator[Any]:
    """Enable a target (its settings and test secrets) and register its endpoint."""
    registered: list[str] = []

    def on(overrides: dict[str, Any], anymail: dict[str, Any], endpoint_path: str) -> None:
        for name, value in overrides.items():
            setattr(settings, name, value)
        if anymail:
            settings.ANYMAIL = {**settings.ANYMAIL, **anymail}
        settings.OUTBOUND_MAX_ATTEMPTS = 1  # a handler that calls out fails fast (nothing listens)
        if endpoint_path:
            from django.utils.module_loading import import_string

            endpoint = import_string(endpoint_path)
            if get_webhook_endpoint(endpoint.name) is None:
                register_webhook_endpoint(endpoint)
                registered.append(endpoint.name)

    yield on
    for name in registered:
        unregister_webhook_endpoint(name)


ENDPOINTS = {
    "stripe": "payments.providers.stripe.webhooks.endpoint",
    "asaas": "payments.providers.asaas.webhooks.endpoint",
    "melhor-envio": "shipping.carriers.melhor_envio.webhooks.endpoint",
    "easypost": "shipping.carriers.easypost.webhooks.endpoint",
    "zapi": "notifications.channels.zapi.webhooks.endpoint",
    "twilio": "notifications.channels.twilio.webhooks.endpoint",
    "hubspot": "accounts.crm.hubspot.webhooks.endpoint",
    "shopify": "orders.sources.shopify.webhooks.endpoint",
}


def _utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_outcome(
    response: Any, before_rows: dict[str, int], stored_before: int, body: bytes
) -> None:
    """The receiver's answer and what became of the event, as the module docstring promises.
    A body that is not UTF-8 may be a 401: the Standard Webhooks and Svix schemes sign text, so
    such a body cannot carry a valid signature of theirs."""
    allowed = (200, 400) if _utf8(body) else (200, 400, 401)
    assert response.status_code in allowed, (response.status_code, response.content[:300])
    if response.status_code != 200:
        assert WebhookEvent.objects.count() == stored_before
        assert _domain_rows() == before_rows
        return
    event = WebhookEvent.objects.get(pk=response.json()["id"])
    if event.status == Status.RECEIVED:  # not run on commit: run it as a worker would
        event = webhook_event_process(event_id=event.pk)
    assert event.status in SETTLED, event.status
    if event.status in (Status.FAILED, Status.DEAD):
        assert event.last_error, "a failed event keeps its reason"
        assert _domain_rows() == before_rows


def test_every_registered_webhook_endpoint_is_fuzzed(enable: Any) -> None:
    from integrations.webhooks.registry import registered_webhook_endpoints

    for target in TARGETS:
        enable(target.settings, target.anymail, ENDPOINTS.get(target.name, ""))
    enable(TWILIO_SETTINGS, {}, ENDPOINTS["twilio"])
    fuzzed = {target.name for target in TARGETS} | {"twilio"}
    # The other anymail ESPs share the Resend endpoint's class and parser (anymail's views).
    anymail_siblings = {"email-postmark", "email-sendgrid", "email-mailgun"}
    assert set(registered_webhook_endpoints()) - anymail_siblings <= fuzzed
    assert set(ENDPOINTS) <= fuzzed


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_a_signed_hostile_body_gets_no_5xx_and_applies_nothing(
    target: Target, enable: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    enable(target.settings, target.anymail, ENDPOINTS.get(target.name, ""))

    @fuzz_settings
    @given(body=hostile_body(target.envelope) | extra_hostile)
    def deliver(body: bytes) -> None:
        before_rows, stored_before = _domain_rows(), WebhookEvent.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                target.path, data=body, content_type="application/json", headers=target.sign(body)
            )
        _check_outcome(response, before_rows, stored_before, body)

    deliver()


form_text = st.one_of(
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
    st.sampled_from([t for t in HOSTILE_TEXTS if "\ud800" not in t and "\udfff" not in t]),
    st.just("9" * 5000),
    st.just("x" * 200_000),
)
twilio_params = st.fixed_dictionaries(
    {
        "MessageSid": st.sampled_from(["SM" + "0" * 32, ""]) | form_text,
        "MessageStatus": st.sampled_from(["delivered", "failed", "read", "undelivered"])
        | form_text,
    },
    optional={
        "AccountSid": st.just(TWILIO_SETTINGS["TWILIO_ACCOUNT_SID"]) | form_text,
        "ErrorCode": st.sampled_from(["30003", "-1", "1e400", ""]) | form_text,
        "To": st.just("whatsapp:+5511999999999") | form_text,
        "From": form_text,
        "Body": form_text,
        "SmsStatus": form_text,
    },
)


def test_a_signed_hostile_twilio_form_gets_no_5xx_and_applies_nothing(
    enable: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    enable(TWILIO_SETTINGS, {}, ENDPOINTS["twilio"])  # once: each override stacks on settings

    @fuzz_settings
    @given(params=twilio_params)
    def deliver(params: dict[str, str]) -> None:
        before_rows, stored_before = _domain_rows(), WebhookEvent.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/webhooks/twilio/",
                data=urlencode(params).encode(),
                content_type="application/x-www-form-urlencoded",
                headers=twilio_signature(params),
            )
        _check_outcome(response, before_rows, stored_before, b"")

    deliver()


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_a_hostile_stored_event_is_settled_by_its_handler_never_retried_forever(
    target: Target, enable: Any, settings: Any
) -> None:
    """Rows that got into the inbox some other way (an older release's receiver, a replay of an
    old row): the real handler runs on them, and each ends settled within the attempt budget."""
    enable(target.settings, target.anymail, ENDPOINTS.get(target.name, ""))
    endpoint = get_webhook_endpoint(target.name)
    assert endpoint is not None
    event_types = ["", "unknown.type", *_handled_types(endpoint)]

    @fuzz_settings
    @given(
        body=hostile_body(target.envelope) | extra_hostile,
        event_type=st.sampled_from(event_types),
    )
    def process(body: bytes, event_type: str) -> None:
        text = body.decode("utf-8", "replace").replace("\x00", "")[:200_000]
        before_rows = _domain_rows()
        event = WebhookEvent.objects.create(
            provider=target.name,
            event_id=f"fuzz-{WebhookEvent.objects.count()}-{timezone.now().timestamp()}",
            event_type=event_type,
            headers={},
            body=text,
        )
        for attempt in range(settings.WEBHOOK_MAX_ATTEMPTS + 2):
            event = webhook_event_process(event_id=event.pk)
            if event.status != Status.FAILED:
                break
            due = {"next_attempt_at": timezone.now() - timedelta(seconds=1)}
            if attempt == settings.WEBHOOK_MAX_ATTEMPTS:
                # Waits for an object not recorded yet use no attempt: they end at the give-up
                # time after arrival. Let that time pass.
                give_up = timedelta(seconds=settings.WEBHOOK_NOT_READY_GIVE_UP_SECONDS + 1)
                due["received_at"] = timezone.now() - give_up
            WebhookEvent.objects.filter(pk=event.pk).update(**due)
        assert event.status in (Status.PROCESSED, Status.IGNORED, Status.DEAD), event.status
        if event.status == Status.DEAD:
            assert event.last_error
            assert _domain_rows() == before_rows

    process()


def _handled_types(endpoint: Any) -> list[str]:
    """Event types the endpoint has a handler for (their hostile bodies reach a handler)."""
    candidates = [
        "payment_intent.succeeded",
        "charge.refunded",
        "charge.dispute.created",
        "PAYMENT_RECEIVED",
        "PAYMENT_REFUNDED",
        "order.posted",
        "order.delivered",
        "tracker.updated",
        "email.delivered",
        "email.bounced",
        "MessageStatusCallback",
        "ReceivedCallback",
        "contact.propertyChange",
        "deal.propertyChange",
        "orders/create",
        "orders/updated",
        "payment.succeeded",
        "refund.succeeded",
        "tracking.updated",
        "message.delivered",
    ]
    return [t for t in candidates if endpoint.handler_for(t) is not None]


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_the_fuzzer_signs_as_the_provider_a_well_formed_event_is_not_refused(
    target: Target, enable: Any, client: Any
) -> None:
    """Guards the fuzzing above: its bodies get past verification (no 401), so they reach the
    parser; the same body with its authenticating headers altered is refused."""
    enable(target.settings, target.anymail, ENDPOINTS.get(target.name, ""))

    @settings(max_examples=10, deadline=None, database=None, phases=[Phase.generate])
    @given(event=target.envelope)
    def post(event: Any) -> None:
        body = json.dumps(event).encode()
        headers = target.sign(body)
        forged_headers = {name: value + "0" for name, value in headers.items()}

        response = client.post(
            target.path, data=body, content_type="application/json", headers=headers
        )
        forged = client.post(
            target.path, data=body, content_type="application/json", headers=forged_headers
        )

        assert response.status_code == 200, (response.status_code, response.content)
        assert forged.status_code == 401, forged.content

    post()
