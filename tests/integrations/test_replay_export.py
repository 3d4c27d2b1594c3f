"""``manage.py export_webhooks`` and the scrubbers: selection, order, consistent keyed fakes,
form-encoded bodies, secrets and signatures left out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from django.core.management import CommandError, call_command

from integrations.models import WebhookEvent
from integrations.webhooks.scrub import Pseudonymizer, scrubber_for
from tests.factories import valid_cpf

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "a-test-key-of-16-plus-chars"


def _row(provider: str, event_id: str, event_type: str, body: Any, at: datetime, **kw: Any) -> Any:
    return WebhookEvent.objects.create(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        body=body if isinstance(body, str) else json.dumps(body),
        received_at=at,
        headers=kw.pop("headers", {"content-type": "application/json"}),
        **kw,
    )


def _export(out: Path, **options: Any) -> dict[str, Any]:
    call_command("export_webhooks", out=str(out), key=KEY, **options)
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.django_db
def test_export_keeps_order_window_and_types(tmp_path: Path) -> None:
    _row(
        "asaas", "e2", "PAYMENT_REFUNDED", {"event": "PAYMENT_REFUNDED"}, T0 + timedelta(minutes=2)
    )
    _row(
        "asaas", "e1", "PAYMENT_RECEIVED", {"event": "PAYMENT_RECEIVED"}, T0 + timedelta(minutes=1)
    )
    _row(
        "asaas", "e0", "PAYMENT_RECEIVED", {"event": "PAYMENT_RECEIVED"}, T0 - timedelta(minutes=1)
    )
    _row("asaas", "e3", "PAYMENT_RECEIVED", {"event": "PAYMENT_RECEIVED"}, T0 + timedelta(hours=2))
    _row("stripe", "evt", "charge.refunded", {"id": "evt"}, T0 + timedelta(minutes=1))

    manifest = _export(
        tmp_path / "all", provider="asaas", since=T0.isoformat(), until="2026-03-01T13:00:00Z"
    )
    assert [d["event_id"] for d in manifest["deliveries"]] == ["e1", "e2"]
    assert [d["file"] for d in manifest["deliveries"]] == [
        "0001-PAYMENT_RECEIVED.json",
        "0002-PAYMENT_REFUNDED.json",
    ]

    typed = _export(
        tmp_path / "typed", provider="asaas", since=T0.isoformat(), event_types=["PAYMENT_REFUNDED"]
    )
    assert [d["event_id"] for d in typed["deliveries"]] == ["e2"]


@pytest.mark.django_db
def test_export_refuses_a_folder_that_holds_a_fixture_and_a_backwards_window(
    tmp_path: Path,
) -> None:
    _export(tmp_path, provider="stripe", since=T0.isoformat())
    with pytest.raises(CommandError, match="exists"):
        _export(tmp_path, provider="stripe", since=T0.isoformat())
    with pytest.raises(CommandError, match="after --since"):
        _export(tmp_path / "b", provider="stripe", since=T0.isoformat(), until="2026-01-01")


@pytest.mark.django_db
def test_the_same_person_gets_the_same_fake_across_deliveries_and_fields(tmp_path: Path) -> None:
    cpf = valid_cpf(123456789)
    email = "maria.original@mail.example.net"
    _row(
        "asaas",
        "e1",
        "PAYMENT_RECEIVED",
        {"event": "X", "payment": {"id": "pay_1", "customerEmail": email, "cpfCnpj": cpf}},
        T0,
        headers={
            "content-type": "application/json",
            "user-agent": "Asaas",
            "x-forwarded-for": "9.9.9.9",
        },
    )
    _row(
        "asaas",
        "e2",
        "PAYMENT_REFUNDED",
        {"event": "Y", "payment": {"id": "pay_1", "description": f"refund for {email} / {cpf}"}},
        T0 + timedelta(seconds=1),
    )
    manifest = _export(tmp_path, provider="asaas", since=T0.isoformat())
    first = json.loads((tmp_path / manifest["deliveries"][0]["file"]).read_text())["payment"]
    second = json.loads((tmp_path / manifest["deliveries"][1]["file"]).read_text())["payment"]
    text = "".join(p.read_text() for p in tmp_path.iterdir())

    assert email not in text and cpf not in text and "9.9.9.9" not in text
    assert first["id"] == second["id"] == "pay_1"
    assert second["description"] == f"refund for {first['customerEmail']} / {first['cpfCnpj']}"
    fake_cpf = first["cpfCnpj"]
    assert fake_cpf == valid_cpf(int(fake_cpf[:9]))  # still a valid CPF
    assert manifest["deliveries"][0]["headers"] == {"content-type": "application/json"}


def test_fakes_follow_the_key() -> None:
    same = Pseudonymizer(key=b"k1").fake("email", "a@b.example.org")
    assert Pseudonymizer(key=b"k1").fake("email", "a@b.example.org") == same
    assert Pseudonymizer(key=b"k2").fake("email", "a@b.example.org") != same


def test_twilio_form_bodies_are_scrubbed_and_stay_form_encoded() -> None:
    body = (
        "MessageSid=SM123&From=whatsapp%3A%2B5511987650000&To=whatsapp%3A%2B5511900001111"
        "&Body=Oi%2C+sou+a+Maria&ProfileName=Maria+Original&MessageStatus=delivered"
    )
    pseudo = Pseudonymizer(key=b"k")
    scrubbed = parse_qs(scrubber_for("twilio").scrub_body(body, pseudo))

    assert scrubbed["MessageSid"] == ["SM123"]
    assert scrubbed["MessageStatus"] == ["delivered"]
    assert scrubbed["From"][0].startswith("whatsapp:+55")
    assert scrubbed["From"][0] != "whatsapp:+5511987650000"
    assert len(scrubbed["From"][0]) == len("whatsapp:+5511987650000")
    assert "Maria" not in scrubbed["ProfileName"][0] and "Maria" not in scrubbed["Body"][0]


def test_a_configured_secret_quoted_in_a_body_is_replaced(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_a_configured_secret_value"
    body = json.dumps(
        {"id": "evt_1", "data": {"object": {"note": "key sk_test_a_configured_secret_value"}}}
    )
    scrubbed = scrubber_for("stripe").scrub_body(body, Pseudonymizer(key=b"k"))
    assert "sk_test_a_configured_secret_value" not in scrubbed
    assert json.loads(scrubbed)["id"] == "evt_1"
