"""Rotating the Asaas webhook token: while Asaas switches, the new and the old token are both
accepted (ASAAS_WEBHOOK_TOKEN_PREVIOUS, or a comma list in ASAAS_WEBHOOK_TOKEN); anything else,
a blank included, is 401 and nothing is stored."""

from __future__ import annotations

import importlib
import uuid

import pytest

from integrations.models import WebhookEvent
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.services import payment_create
from tests.factories import make_order
from tests.payments.asaas.conftest import webhook_body

pytestmark = pytest.mark.django_db

NEW = "whtok-new-0123456789abcdefghijklmnop"
OLD = "whtok-old-0123456789abcdefghijklmnop"


def _received() -> tuple[Payment, dict]:
    order = make_order(amount=10_000, payment_method=PaymentMethod.PIX)
    payment = payment_create(order=order, provider="asaas", method=PaymentMethod.PIX)
    body = webhook_body(
        "payment_received",
        event_id=f"evt_{uuid.uuid4().hex}",
        id=f"pay_{payment.pk:012d}",
        externalReference=f"payment:{payment.pk}",
        value=100.0,
    )
    return payment, body


def _status(payment: Payment) -> str:
    payment.refresh_from_db()
    return payment.status


def test_the_previous_token_is_accepted_while_rotating(settings, post_webhook):
    settings.ASAAS_WEBHOOK_TOKEN = NEW
    settings.ASAAS_WEBHOOK_TOKEN_PREVIOUS = OLD
    old_payment, old_body = _received()
    new_payment, new_body = _received()

    assert post_webhook(old_body, token=OLD).status_code == 200
    assert post_webhook(new_body, token=NEW).status_code == 200

    assert _status(old_payment) == _status(new_payment) == PaymentStatus.SUCCEEDED


def test_a_comma_list_in_the_token_setting_accepts_each_trimmed_token(settings, post_webhook):
    settings.ASAAS_WEBHOOK_TOKEN = f"{NEW} , {OLD},"
    settings.ASAAS_WEBHOOK_TOKEN_PREVIOUS = ""
    first, first_body = _received()
    second, second_body = _received()

    assert post_webhook(first_body, token=NEW).status_code == 200
    assert post_webhook(second_body, token=OLD).status_code == 200

    assert _status(first) == _status(second) == PaymentStatus.SUCCEEDED


@pytest.mark.parametrize(
    "token",
    ["", " ", f"{NEW},{OLD}", f" {OLD}", "whtok-retired-0123456789abcdefghij"],
)
def test_anything_but_one_accepted_token_is_401_and_stores_nothing(settings, post_webhook, token):
    # Blanks in the list ("a, ,") must never make an empty header acceptable.
    settings.ASAAS_WEBHOOK_TOKEN = f"{NEW}, ,"
    settings.ASAAS_WEBHOOK_TOKEN_PREVIOUS = f"{OLD},"
    payment, body = _received()

    assert post_webhook(body, token=token).status_code == 401

    assert not WebhookEvent.objects.exists()
    assert _status(payment) == PaymentStatus.PENDING


def test_once_the_old_token_is_dropped_it_is_refused(settings, post_webhook):
    settings.ASAAS_WEBHOOK_TOKEN = NEW
    settings.ASAAS_WEBHOOK_TOKEN_PREVIOUS = ""
    payment, body = _received()

    assert post_webhook(body, token=OLD).status_code == 401

    assert not WebhookEvent.objects.exists()
    assert _status(payment) == PaymentStatus.PENDING


def _reload_settings(monkeypatch, **env: str) -> dict:
    import config.settings.asaas as asaas_settings

    for name in ("ASAAS_ENABLED", "ASAAS_API_KEY", "ASAAS_WEBHOOK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ASAAS_WEBHOOK_TOKEN_PREVIOUS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        module = importlib.reload(asaas_settings)
        return {name: getattr(module, name) for name in dir(module) if name.isupper()}
    finally:
        monkeypatch.undo()
        importlib.reload(asaas_settings)


def test_the_previous_token_is_read_from_the_environment(monkeypatch):
    values = _reload_settings(
        monkeypatch, ASAAS_WEBHOOK_TOKEN=NEW, ASAAS_WEBHOOK_TOKEN_PREVIOUS=OLD
    )
    assert values["ASAAS_WEBHOOK_TOKEN"] == NEW
    assert values["ASAAS_WEBHOOK_TOKEN_PREVIOUS"] == OLD


def _provider_errors(settings, **values: str) -> list[str]:
    from integrations.checks import check_providers

    settings.ASAAS_ENABLED = True
    settings.ASAAS_API_KEY = "$aact_hmlg_000TestKeyForTheFakeServer000"
    for name, value in values.items():
        setattr(settings, name, value)
    return [f"{m.id}: {m.msg}" for m in check_providers()]


def test_start_up_refuses_a_token_with_a_space_inside(settings):
    assert _provider_errors(settings, ASAAS_WEBHOOK_TOKEN=f"{NEW} {OLD}") == [
        "providers.E004: ASAAS_WEBHOOK_TOKEN (for the payments provider 'asaas') "
        "must not contain spaces."
    ]


def test_an_enabled_asaas_needs_a_token_that_is_not_only_commas(settings):
    assert _provider_errors(settings, ASAAS_WEBHOOK_TOKEN=" , ") == [
        "providers.E003: The payments provider 'asaas' is enabled (ASAAS_ENABLED) "
        "but ASAAS_WEBHOOK_TOKEN is not set."
    ]


def test_the_rotation_forms_pass_the_start_up_checks(settings):
    assert _provider_errors(settings, ASAAS_WEBHOOK_TOKEN=f"{NEW} , {OLD},") == []
    assert (
        _provider_errors(settings, ASAAS_WEBHOOK_TOKEN=NEW, ASAAS_WEBHOOK_TOKEN_PREVIOUS=OLD) == []
    )


def test_an_asaas_api_key_is_read_from_the_environment_verbatim(monkeypatch):
    """Asaas keys start with "$aact_", which django-environ would read as a reference to another
    variable and fail on."""
    values = _reload_settings(monkeypatch, ASAAS_API_KEY="$aact_YTU5YTE0M2M2MWIyNDMwOWU2")
    assert values["ASAAS_API_KEY"] == "$aact_YTU5YTE0M2M2MWIyNDMwOWU2"
