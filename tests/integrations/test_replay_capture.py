"""Real flows against the fakes, exported with ``manage.py export_webhooks``: the export holds
none of the customer's personal data nor any secret, and its bodies still parse.

With ``REPLAY_CAPTURE=1`` the exports are written to tests/fixtures/replay/ (the folders
tests/integrations/test_replay.py replays); otherwise to a temporary folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations.models import WebhookEvent
from integrations.webhooks.registry import get_webhook_endpoint
from tests.integrations import replay_flows as flows
from tests.integrations.conftest import STRIPE_TEST_SECRET
from tests.support.fake_asaas import API_KEY as ASAAS_API_KEY
from tests.support.fake_asaas import WEBHOOK_TOKEN
from tests.support.fake_stripe import API_KEY as STRIPE_API_KEY
from tests.support.replay import ReplayFolder

pytestmark = pytest.mark.django_db


def _out(tmp_path: Path, name: str) -> Path:
    if os.environ.get("REPLAY_CAPTURE") != "1":
        return tmp_path / name
    folder = flows.FIXTURES / name
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def _export_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


def _assert_clean(folder: Path, *secrets: str) -> None:
    text = _export_text(folder)
    leaked = [value for value in flows.PII.values() if value in text]
    assert leaked == [], f"personal data left in the export: {leaked}"
    present = [s for s in (*secrets, django_settings.SECRET_KEY) if s in text]
    assert present == [], "a secret is in the export"
    loaded = ReplayFolder.load(folder)
    endpoint = get_webhook_endpoint(loaded.provider)
    assert endpoint is not None
    for delivery in loaded.deliveries:
        parsed = endpoint.parse(headers=dict(delivery.headers), body=delivery.body.encode())
        assert (parsed.event_id, parsed.event_type) == (delivery.event_id, delivery.event_type)
        assert not {"stripe-signature", "webhook-signature", "asaas-access-token"} & set(
            delivery.headers
        )


def test_stripe_capture_exports_no_personal_data_or_secret(
    client: Any, django_capture_on_commit_callbacks: Any, stripe_fake: Any, tmp_path: Path
) -> None:
    out = _out(tmp_path, "stripe-paid-refunded")
    world = flows.stripe_capture(
        client=client,
        capture_on_commit=django_capture_on_commit_callbacks,
        fake=stripe_fake,
        out=out,
    )

    stored = WebhookEvent.objects.get(event_id="evt_replay_1").body
    assert all(
        value in stored for key, value in flows.PII.items() if key not in ("cpf", "card_token")
    )
    _assert_clean(out, STRIPE_TEST_SECRET, STRIPE_API_KEY)
    loaded = ReplayFolder.load(out)
    assert [d.event_type for d in loaded.deliveries] == [
        "payment_intent.succeeded",
        "refund.created",
        "refund.updated",
    ]
    intent = loaded.payloads()[0]["data"]["object"]
    assert intent["id"] == world.provider_payment_id  # provider ids kept
    assert intent["metadata"]["reference"] == world.payment_reference
    # The same person maps to the same fake in every field that named them.
    assert intent["shipping"]["name"] != flows.PII["name"]
    assert intent["shipping"]["name"] in intent["description"]
    assert intent["receipt_email"].endswith("@example.com")


def test_asaas_capture_exports_no_personal_data_or_secret(
    client: Any, django_capture_on_commit_callbacks: Any, asaas_fake: Any, tmp_path: Path
) -> None:
    out = _out(tmp_path, "asaas-paid-refunded")
    world = flows.asaas_capture(
        client=client,
        capture_on_commit=django_capture_on_commit_callbacks,
        fake=asaas_fake,
        token=WEBHOOK_TOKEN,
        out=out,
    )

    stored = WebhookEvent.objects.get(event_id="evt_replay_asaas_1").body
    assert flows.PII["card_token"] in stored and flows.PII["email"] in stored
    _assert_clean(out, WEBHOOK_TOKEN, ASAAS_API_KEY)
    payloads = ReplayFolder.load(out).payloads()
    assert [p["event"] for p in payloads] == ["PAYMENT_RECEIVED", "PAYMENT_REFUNDED"]
    first, second = (p["payment"] for p in payloads)
    assert first["id"] == second["id"] == world.provider_payment_id
    token = first["creditCard"]["creditCardToken"]
    assert token != flows.PII["card_token"]
    assert second["creditCard"]["creditCardToken"] == token  # consistent across deliveries
    assert first["value"] == 100.0  # amounts untouched


def test_sandbox_capture_exports_no_secret(
    client: Any, django_capture_on_commit_callbacks: Any, sandbox_payments: None, tmp_path: Path
) -> None:
    out = _out(tmp_path, "sandbox-paid-refunded")
    secret = django_settings.SANDBOX_WEBHOOK_SECRET
    flows.sandbox_capture(
        client=client, capture_on_commit=django_capture_on_commit_callbacks, secret=secret, out=out
    )

    _assert_clean(out, secret)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [d["event_type"] for d in manifest["deliveries"]] == [
        "payment.succeeded",
        "refund.processing",
        "refund.succeeded",
    ]
    assert all(set(d["headers"]) <= {"content-type", "webhook-id"} for d in manifest["deliveries"])


@pytest.mark.parametrize(
    "name", ["stripe-paid-refunded", "asaas-paid-refunded", "sandbox-paid-refunded"]
)
def test_committed_fixtures_hold_no_personal_data_or_secret(name: str) -> None:
    text = _export_text(flows.FIXTURES / name)
    assert [value for value in flows.PII.values() if value in text] == []
    secrets = [STRIPE_TEST_SECRET, STRIPE_API_KEY, WEBHOOK_TOKEN, ASAAS_API_KEY]
    secrets += [django_settings.SANDBOX_WEBHOOK_SECRET, django_settings.SECRET_KEY]
    assert [s for s in secrets if s in text] == []
