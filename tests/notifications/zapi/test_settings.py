"""Issue 13 item 2: the Z-API settings and the start-up checks that refuse missing or malformed
ones (providers.E002/E003/E004), naming the variable and never showing the value."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error

from integrations import checks as provider_checks
from integrations.checks import check_providers
from integrations.providers import MESSAGING, load_spec


def errors() -> list[Error]:
    return [m for m in check_providers() if isinstance(m, Error)]


def test_zapi_is_listed_carries_whatsapp_and_is_off_by_default() -> None:
    from django.conf import settings as django_settings

    spec = load_spec("notifications.channels.zapi")

    assert (spec.family, spec.name, spec.channels) == (MESSAGING.name, "zapi", ("whatsapp",))
    assert "notifications.channels.zapi" in django_settings.MESSAGE_PROVIDERS
    assert [route.slug for route in spec.webhooks] == ["zapi"]
    assert {s.name for s in spec.settings} >= {
        "ZAPI_INSTANCE_ID",
        "ZAPI_INSTANCE_TOKEN",
        "ZAPI_CLIENT_TOKEN",
        "ZAPI_WEBHOOK_TOKEN",
        "ZAPI_API_BASE",
    }


def test_the_test_settings_with_zapi_selected_pass() -> None:
    """The conftest turns Z-API on with well-formed values and MESSAGE_CHANNELS whatsapp=zapi."""
    assert errors() == []


def test_selecting_zapi_while_it_is_off_is_refused(settings: Any) -> None:
    settings.ZAPI_ENABLED = False

    (error,) = errors()

    assert error.id == provider_checks.NOT_ENABLED
    assert "ZAPI_ENABLED" in (error.hint or "") + error.msg


@pytest.mark.parametrize(
    "name", ["ZAPI_INSTANCE_ID", "ZAPI_INSTANCE_TOKEN", "ZAPI_CLIENT_TOKEN", "ZAPI_WEBHOOK_TOKEN"]
)
def test_a_missing_secret_is_refused(settings: Any, name: str) -> None:
    setattr(settings, name, "")

    (error,) = errors()

    assert error.id == provider_checks.MISSING_SETTING
    assert f"{name} is not set" in error.msg


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("ZAPI_INSTANCE_ID", "3EA00D04 5BBA411272EA262C2401B26D", "letters and digits"),
        ("ZAPI_INSTANCE_ID", "3EA00D", "16-64"),
        ("ZAPI_INSTANCE_TOKEN", "53C7BCFE-425BACB7D273D037", "letters and digits"),
        ("ZAPI_CLIENT_TOKEN", "short", "16-128"),
        ("ZAPI_WEBHOOK_TOKEN", "too-short-token", "32-128"),
        ("ZAPI_WEBHOOK_TOKEN", "a/path/segment/is/not/a/token/0123456789", "path segment"),
        ("ZAPI_WEBHOOK_TOKEN_PREVIOUS", "old?token=0123456789abcdef0123456789", "path segment"),
        ("ZAPI_API_BASE", "http://api.z-api.io", "https://"),
    ],
)
def test_a_malformed_setting_is_refused_without_showing_it(
    settings: Any, name: str, value: str, problem: str
) -> None:
    setattr(settings, name, value)

    (error,) = errors()

    assert error.id == provider_checks.MALFORMED_SETTING
    assert error.msg.startswith(name) and problem in error.msg
    if len(value) > 8:
        assert value not in error.msg + (error.hint or "")


ZAPI_ENV = {
    "MESSAGE_CHANNELS": "email=email,whatsapp=zapi",
    "ZAPI_ENABLED": "true",
    "ZAPI_INSTANCE_ID": "3EA00D045BBA411272EA262C2401B26D",
    "ZAPI_INSTANCE_TOKEN": "53C7BCFE425BACB7D273D037",
    "ZAPI_CLIENT_TOKEN": "F70463fbad6d84b71b412f45221ea1ebfS",
    "ZAPI_WEBHOOK_TOKEN": "production-callback-token-0123456789abcdef",
}


def test_production_starts_with_zapi_and_refuses_it_half_configured() -> None:
    from tests.config.test_production import PROVIDERS_ENV, SAFE_ENV, _run

    good = _run(["check"], **SAFE_ENV, **PROVIDERS_ENV, **ZAPI_ENV)
    assert good.returncode == 0, good.stderr

    half = _run(["check"], **SAFE_ENV, **PROVIDERS_ENV, **{**ZAPI_ENV, "ZAPI_WEBHOOK_TOKEN": ""})
    assert half.returncode != 0
    assert "providers.E003" in half.stderr and "ZAPI_WEBHOOK_TOKEN" in half.stderr
    assert ZAPI_ENV["ZAPI_CLIENT_TOKEN"] not in half.stderr + half.stdout
