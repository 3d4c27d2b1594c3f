"""Issue 13 item 3: the Twilio settings and the start-up checks that refuse missing or
malformed ones (providers.E002/E003/E004/E008), naming the variable and never the value."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error

from integrations import checks as provider_checks
from integrations.checks import check_providers
from integrations.providers import MESSAGING, load_spec
from tests.support.fake_twilio import AUTH_TOKEN

pytestmark = pytest.mark.django_db


def errors() -> list[Error]:
    return [m for m in check_providers() if isinstance(m, Error)]


def test_twilio_is_listed_carries_sms_and_whatsapp_and_is_off_by_default() -> None:
    from django.conf import settings as django_settings

    spec = load_spec("notifications.channels.twilio")

    assert (spec.family, spec.name, spec.channels) == (
        MESSAGING.name,
        "twilio",
        ("sms", "whatsapp"),
    )
    assert "notifications.channels.twilio" in django_settings.MESSAGE_PROVIDERS
    assert [route.slug for route in spec.webhooks] == ["twilio"]


def test_the_test_settings_with_twilio_selected_pass() -> None:
    assert errors() == []


def test_selecting_twilio_while_it_is_off_is_refused(settings: Any) -> None:
    settings.TWILIO_ENABLED = False

    found = errors()

    assert {e.id for e in found} == {provider_checks.NOT_ENABLED}
    assert all("TWILIO_ENABLED" in (e.hint or "") for e in found)


@pytest.mark.parametrize(
    "name", ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_STATUS_CALLBACK_URL"]
)
def test_a_missing_setting_is_refused(settings: Any, name: str) -> None:
    setattr(settings, name, "")

    (error,) = errors()

    assert error.id == provider_checks.MISSING_SETTING
    assert f"{name} is not set" in error.msg


def test_a_sender_is_required(settings: Any) -> None:
    settings.TWILIO_FROM = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = ""

    (error,) = errors()

    assert error.id == provider_checks.MISSING_SETTING
    assert "TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID" in error.msg


def test_a_messaging_service_alone_is_enough(settings: Any) -> None:
    settings.TWILIO_FROM = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "a" * 32

    assert errors() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWILIO_ACCOUNT_SID", "AC123"),
        ("TWILIO_ACCOUNT_SID", "MG" + "a" * 32),
        ("TWILIO_AUTH_TOKEN", "not-a-token"),
        ("TWILIO_AUTH_TOKEN", "G" * 32),
        ("TWILIO_FROM", "5511987654321"),
        ("TWILIO_FROM", "whatsapp:5511"),
        ("TWILIO_MESSAGING_SERVICE_SID", "MG12"),
        ("TWILIO_STATUS_CALLBACK_URL", "sb.example.org/webhooks/twilio/"),
        ("TWILIO_STATUS_CALLBACK_URL", "https://sb.example.org/other/"),
        ("TWILIO_API_BASE", "http://api.twilio.com"),
    ],
)
def test_a_malformed_setting_is_refused_without_its_value(
    settings: Any, name: str, value: str
) -> None:
    setattr(settings, name, value)

    (error,) = errors()

    assert error.id == provider_checks.MALFORMED_SETTING
    assert name in error.msg
    assert value not in error.msg + (error.hint or "")


def test_whatsapp_from_is_accepted(settings: Any) -> None:
    settings.TWILIO_FROM = "whatsapp:+14155238886"

    assert errors() == []


def test_no_message_shows_the_auth_token(settings: Any) -> None:
    settings.TWILIO_ACCOUNT_SID = ""

    assert all(AUTH_TOKEN not in e.msg + (e.hint or "") for e in errors())
