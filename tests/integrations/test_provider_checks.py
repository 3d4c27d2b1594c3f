"""Start-up checks of the provider settings (issue 9 item 2): one test per refusal, each message
naming the variable to set; and the processes that must refuse to start (manage.py check,
qcluster, gunicorn's WSGI import) really do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import Error

from integrations import checks as provider_checks
from integrations.checks import check_providers
from tests.support.processes import scratch_sqlite_env

ROOT = Path(__file__).resolve().parents[2]
GOOD_SANDBOX_SECRET = "whsec_" + "dGVzdC1vbmx5LXNhbmRib3gtc2VjcmV0LTMyLWJ5dGU="
GOOD_ASAAS_TOKEN = "asaas-webhook-token-0123456789-abcdefghij"


def errors(check_id: str | None = None) -> list[Error]:
    found = [m for m in check_providers() if isinstance(m, Error)]
    return [m for m in found if check_id is None or m.id == check_id]


def only(check_id: str) -> Error:
    found = errors()
    assert [m.id for m in found] == [check_id], [f"{m.id}: {m.msg}" for m in found]
    return found[0]


def test_the_test_settings_pass():
    assert errors() == []


def test_an_unknown_provider_package_is_refused(settings: Any):
    settings.PAYMENT_PROVIDERS = [*settings.PAYMENT_PROVIDERS, "payments.providers.pagseguro"]

    error = only(provider_checks.UNKNOWN)

    assert "payments.providers.pagseguro" in error.msg
    assert "PAYMENT_PROVIDERS" in (error.hint or "")


def test_a_module_without_a_spec_is_refused(settings: Any):
    settings.SHIPPING_CARRIERS = [*settings.SHIPPING_CARRIERS, "shipping.carriers.base"]

    error = only(provider_checks.UNKNOWN)

    assert "exports no ProviderSpec" in error.msg


def test_an_unknown_active_provider_name_is_refused(settings: Any):
    settings.PAYMENT_PROVIDER = "strpie"

    error = only(provider_checks.UNKNOWN)

    assert "PAYMENT_PROVIDER is 'strpie'" in error.msg
    assert "asaas, sandbox, stripe" in error.msg
    assert "Set PAYMENT_PROVIDER" in (error.hint or "")


@pytest.mark.parametrize(
    ("setting", "value", "flag"),
    [
        ("PAYMENT_PROVIDER", "stripe", "STRIPE_ENABLED"),
        ("PAYMENT_PROVIDER", "asaas", "ASAAS_ENABLED"),
        ("SHIPPING_CARRIER", "sandbox", "SANDBOX_ENABLED"),
    ],
)
def test_an_active_provider_that_is_not_enabled_is_refused(
    settings: Any, setting: str, value: str, flag: str
):
    setattr(settings, setting, value)
    setattr(settings, flag, False)
    if flag == "SANDBOX_ENABLED":  # the sandbox also carries whatsapp and payments by default
        settings.PAYMENT_PROVIDER = "stripe"
        settings.STRIPE_ENABLED = True
        settings.STRIPE_SECRET_KEY = "sk_test_0123456789abcdef"
        settings.STRIPE_WEBHOOK_SECRETS = ["whsec_0123456789abcdef"]
        settings.MESSAGE_CHANNELS = {"email": "email"}

    error = only(provider_checks.NOT_ENABLED)

    assert f"{setting} is {value!r}" in error.msg
    assert f"Set {flag}=true" in (error.hint or "")


def test_a_message_channel_whose_provider_is_not_enabled_is_refused(settings: Any):
    settings.EMAIL_CHANNEL_ENABLED = False

    error = only(provider_checks.NOT_ENABLED)

    assert "MESSAGE_CHANNELS['email'] is 'email'" in error.msg
    assert "EMAIL_CHANNEL_ENABLED=true" in (error.hint or "")


def test_a_channel_given_to_a_provider_that_cannot_carry_it_is_refused(settings: Any):
    settings.MESSAGE_CHANNELS = {"email": "sandbox", "whatsapp": "sandbox"}

    error = only(provider_checks.CHANNEL_NOT_CARRIED)

    assert "carries whatsapp, not email" in error.msg


@pytest.mark.parametrize(
    ("flag", "present", "missing", "variable"),
    [
        (
            "STRIPE_ENABLED",
            {"STRIPE_WEBHOOK_SECRETS": ["whsec_0123456789abcdef"]},
            "STRIPE_SECRET_KEY",
            "STRIPE_SECRET_KEY",
        ),
        (
            "STRIPE_ENABLED",
            {"STRIPE_SECRET_KEY": "sk_test_0123456789abcdef"},
            "STRIPE_WEBHOOK_SECRETS",
            "STRIPE_WEBHOOK_SECRET",
        ),
        (
            "ASAAS_ENABLED",
            {"ASAAS_WEBHOOK_TOKEN": GOOD_ASAAS_TOKEN},
            "ASAAS_API_KEY",
            "ASAAS_API_KEY",
        ),
        (
            "ASAAS_ENABLED",
            {"ASAAS_API_KEY": "$aact_hmlg_000TestKeyForTheFakeServer000"},
            "ASAAS_WEBHOOK_TOKEN",
            "ASAAS_WEBHOOK_TOKEN",
        ),
        ("SANDBOX_ENABLED", {}, "SANDBOX_WEBHOOK_SECRET", "SANDBOX_WEBHOOK_SECRET"),
    ],
)
def test_an_enabled_provider_without_its_secret_is_refused(
    settings: Any, flag: str, present: dict[str, Any], missing: str, variable: str
):
    setattr(settings, flag, True)
    for name, value in present.items():
        setattr(settings, name, value)
    setattr(settings, missing, "" if not missing.endswith("S") else [])

    error = only(provider_checks.MISSING_SETTING)

    assert f"{variable} is not set" in error.msg
    assert variable in (error.hint or "")


@pytest.mark.parametrize(
    ("flag", "setting", "value", "variable", "problem"),
    [
        ("SANDBOX_ENABLED", "SANDBOX_WEBHOOK_SECRET", "whsec_", "SANDBOX_WEBHOOK_SECRET", "base64"),
        (
            "SANDBOX_ENABLED",
            "SANDBOX_WEBHOOK_SECRET",
            "dGVzdC1vbmx5LXNhbmRib3gtc2VjcmV0LTMyLWJ5dGU=",
            "SANDBOX_WEBHOOK_SECRET",
            "must start with whsec_",
        ),
        (
            "SANDBOX_ENABLED",
            "SANDBOX_WEBHOOK_SECRET",
            "whsec_not base64!",
            "SANDBOX_WEBHOOK_SECRET",
            "followed by base64",
        ),
        ("ASAAS_ENABLED", "ASAAS_WEBHOOK_TOKEN", "too-short", "ASAAS_WEBHOOK_TOKEN", "32-255"),
        ("ASAAS_ENABLED", "ASAAS_WEBHOOK_TOKEN", "x" * 256, "ASAAS_WEBHOOK_TOKEN", "32-255"),
        (
            "ASAAS_ENABLED",
            "ASAAS_WEBHOOK_TOKEN",
            "a token with spaces in it that is long enough",
            "ASAAS_WEBHOOK_TOKEN",
            "spaces",
        ),
        ("ASAAS_ENABLED", "ASAAS_API_KEY", "aact_missing_dollar_00000", "ASAAS_API_KEY", "$aact_"),
        (
            "STRIPE_ENABLED",
            "STRIPE_SECRET_KEY",
            "pk_test_publishable_key",
            "STRIPE_SECRET_KEY",
            "sk_",
        ),
        (
            "STRIPE_ENABLED",
            "STRIPE_WEBHOOK_SECRETS",
            ["whsec_0123456789abcdef", "whsec_"],
            "STRIPE_WEBHOOK_SECRET",
            "value 2",
        ),
    ],
)
def test_a_malformed_secret_is_refused(
    settings: Any, flag: str, setting: str, value: Any, variable: str, problem: str
):
    setattr(settings, flag, True)
    settings.STRIPE_SECRET_KEY = "sk_test_0123456789abcdef"
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_0123456789abcdef"]
    settings.ASAAS_API_KEY = "$aact_hmlg_000TestKeyForTheFakeServer000"
    settings.ASAAS_WEBHOOK_TOKEN = GOOD_ASAAS_TOKEN
    setattr(settings, setting, value)

    error = only(provider_checks.MALFORMED_SETTING)

    assert error.msg.startswith(variable)
    assert problem in error.msg
    secret = value if isinstance(value, str) else value[-1]
    if len(secret) > 8:
        assert secret not in error.msg + (error.hint or ""), "a message never shows the value"


def test_an_old_asaas_token_kept_for_a_rotation_is_checked_too(settings: Any):
    settings.ASAAS_ENABLED = True
    settings.ASAAS_API_KEY = "$aact_hmlg_000TestKeyForTheFakeServer000"
    settings.ASAAS_WEBHOOK_TOKEN = f"{GOOD_ASAAS_TOKEN}, short"

    error = only(provider_checks.MALFORMED_SETTING)

    assert "(value 2)" in error.msg


def test_production_refuses_a_sandbox_unless_allowed_on_purpose(settings: Any):
    settings.PRODUCTION = True

    error = only(provider_checks.SANDBOX_IN_PRODUCTION)
    assert "payments/sandbox" in error.msg and "shipping/sandbox" in error.msg
    assert "SANDBOX_IN_PRODUCTION=true" in (error.hint or "")

    settings.SANDBOX_IN_PRODUCTION = True
    assert errors() == []


def test_production_without_a_sandbox_passes(settings: Any):
    settings.PRODUCTION = True
    settings.SANDBOX_ENABLED = False
    settings.STRIPE_ENABLED = True
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_live_" + "0123456789abcdef"
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_0123456789abcdef"]
    settings.MESSAGE_CHANNELS = {"email": "email"}
    settings.SHIPPING_CARRIERS = []
    settings.SHIPPING_CARRIER = ""

    found = errors()

    # No carrier is listed, so the active one cannot be: that is the only complaint.
    assert [m.id for m in found] == [provider_checks.UNKNOWN]
    assert "SHIPPING_CARRIER" in found[0].msg


# The processes that must refuse to start.

BAD_ENV = {"PAYMENT_PROVIDER": "stripe"}  # listed, but STRIPE_ENABLED is off


@pytest.fixture
def run(tmp_path: Path) -> Any:
    def run(args: list[str], extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        env = scratch_sqlite_env(tmp_path / "db.sqlite3", **extra_env)
        return _run(args, env)

    return run


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_manage_py_check_refuses_and_names_the_variable(run: Any):
    result = run(["manage.py", "check"], BAD_ENV)

    assert result.returncode != 0
    assert "providers.E002" in result.stderr
    assert "Set STRIPE_ENABLED=true" in result.stderr


@pytest.mark.slow
def test_qcluster_refuses_to_start(run: Any):
    result = run(["manage.py", "qcluster", "--run-once"], BAD_ENV)

    assert result.returncode != 0
    assert "providers.E002" in result.stderr


@pytest.mark.slow
def test_the_wsgi_application_gunicorn_loads_refuses_to_start(run: Any):
    code = "import config.wsgi"
    result = run(["-c", code], BAD_ENV)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set STRIPE_ENABLED=true" in result.stderr
    good = run(["-c", code], {})
    assert good.returncode == 0, good.stderr


SHOPIFY_GOOD = {
    "SHOPIFY_SHOP": "myshop.myshopify.com",
    "SHOPIFY_ACCESS_TOKEN": "shpat_0123456789abcdef0123456789abcdef",
    "SHOPIFY_WEBHOOK_SECRET": "shpss_0123456789abcdef0123456789abcdef",
    "SHOPIFY_API_VERSION": "2026-10",
    "SHOPIFY_API_BASE": "",
}


def _shopify_on(settings: Any, **changes: Any) -> None:
    settings.SHOPIFY_ENABLED = True
    for name, value in {**SHOPIFY_GOOD, **changes}.items():
        setattr(settings, name, value)


def test_an_enabled_shopify_with_its_settings_passes(settings: Any):
    _shopify_on(settings)

    assert errors() == []


@pytest.mark.parametrize(
    "missing",
    ["SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKEN", "SHOPIFY_WEBHOOK_SECRET", "SHOPIFY_API_VERSION"],
)
def test_an_enabled_shopify_without_a_setting_is_refused(settings: Any, missing: str):
    _shopify_on(settings, **{missing: ""})

    error = only(provider_checks.MISSING_SETTING)

    assert f"{missing} is not set" in error.msg
    assert "storefronts provider 'shopify'" in error.msg


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("SHOPIFY_SHOP", "myshop.com", "myshopify.com"),
        ("SHOPIFY_SHOP", "https://myshop.myshopify.com", "myshopify.com"),
        ("SHOPIFY_ACCESS_TOKEN", "0123456789abcdef0123456789abcdef", "shpat_"),
        ("SHOPIFY_ACCESS_TOKEN", "shpat_short", "too little"),
        ("SHOPIFY_WEBHOOK_SECRET", "too-short", "16-255"),
        ("SHOPIFY_API_VERSION", "2026-11", "API version"),
        ("SHOPIFY_API_VERSION", "latest", "API version"),
        ("SHOPIFY_API_BASE", "http://myshop.myshopify.com", "https://"),
    ],
)
def test_a_malformed_shopify_setting_is_refused(
    settings: Any, setting: str, value: str, problem: str
):
    _shopify_on(settings, **{setting: value})

    error = only(provider_checks.MALFORMED_SETTING)

    assert error.msg.startswith(setting)
    assert problem in error.msg
    if setting in ("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_WEBHOOK_SECRET") and len(value) > 8:
        assert value not in error.msg + (error.hint or ""), "a message never shows the value"


def test_a_listed_order_source_that_does_not_exist_is_refused(settings: Any):
    settings.ORDER_SOURCES = [*settings.ORDER_SOURCES, "orders.sources.woocommerce"]

    error = only(provider_checks.UNKNOWN)

    assert "ORDER_SOURCES" in error.msg
    assert "orders.sources.woocommerce" in error.msg


def test_a_storefront_listed_as_a_carrier_is_refused(settings: Any):
    settings.SHIPPING_CARRIERS = [*settings.SHIPPING_CARRIERS, "orders.sources.shopify"]

    error = only(provider_checks.WRONG_FAMILY)

    assert "storefronts provider" in error.msg


GOOD_EASYPOST = {
    "EASYPOST_API_KEY": "EZTK" + "0123456789abcdef" * 3,
    "EASYPOST_WEBHOOK_SECRET": "easypost-webhook-secret-0123456789",
    "EASYPOST_WEBHOOK_SECRET_PREVIOUS": "",
    "EASYPOST_API_BASE": "https://api.easypost.com/v2",
    "EASYPOST_FROM_ZIP": "94104",
}


def _easypost(settings: Any, **changes: Any) -> None:
    settings.EASYPOST_ENABLED = True
    for name, value in {**GOOD_EASYPOST, **changes}.items():
        setattr(settings, name, value)


def test_easypost_enabled_with_its_settings_passes(settings: Any):
    _easypost(settings)
    assert errors() == []


@pytest.mark.parametrize(
    "missing", ["EASYPOST_API_KEY", "EASYPOST_WEBHOOK_SECRET", "EASYPOST_FROM_ZIP"]
)
def test_easypost_enabled_without_a_required_setting_is_refused(settings: Any, missing: str):
    _easypost(settings, **{missing: ""})

    error = only(provider_checks.MISSING_SETTING)

    assert f"{missing} is not set" in error.msg


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        ("EASYPOST_API_KEY", "sk_test_0123456789abcdef0123456789", "must start with EZAK or EZTK"),
        ("EASYPOST_API_KEY", "EZAK0123", "too little"),
        ("EASYPOST_API_KEY", "EZAK0123456789 abcdef0123456789", "spaces"),
        ("EASYPOST_WEBHOOK_SECRET", "short", "16-255"),
        ("EASYPOST_WEBHOOK_SECRET_PREVIOUS", "short", "16-255"),
        ("EASYPOST_API_BASE", "http://api.easypost.com/v2", "https://"),
    ],
)
def test_easypost_malformed_setting_is_refused(
    settings: Any, setting: str, value: str, problem: str
):
    _easypost(settings, **{setting: value})

    error = only(provider_checks.MALFORMED_SETTING)

    assert error.msg.startswith(setting)
    assert problem in error.msg
    assert value not in error.msg + (error.hint or ""), "a message never shows the value"
