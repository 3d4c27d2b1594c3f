"""Production refuses unsafe settings, and passes Django's deployment checks with a safe env."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAFE_ENV = {
    "DJANGO_SECRET_KEY": "q8Zr2vN5xT1mK7pW3yL9cB4hF6jD0sGaE2uR8iO5nV1tY7wX3zQ9kM4bH6cJ0pS",
    "DJANGO_ALLOWED_HOSTS": "switchboard.example.com",
}
# The providers the README's production table lists (until a real carrier and WhatsApp channel
# ship, the sandbox carries shipping and WhatsApp, allowed on purpose).
PROVIDERS_ENV = {
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_ENABLED": "true",
    "STRIPE_SECRET_KEY": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "production0123456789",
    "SANDBOX_ENABLED": "true",
    "SANDBOX_IN_PRODUCTION": "true",
    "SANDBOX_WEBHOOK_SECRET": "whsec_" + "cHJvZHVjdGlvbi1zYW5kYm94LXNlY3JldC0zMi1ieXRl",
}


def _run(args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **env_overrides})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be off"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short-secret"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + "x1y2z3" * 10}, "not a known default"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_when_unsafe(overrides, message):
    result = _run(["check"], **{**SAFE_ENV, **overrides})
    assert result.returncode != 0
    assert message in result.stderr


def test_check_deploy_reports_no_issues_with_the_documented_env():
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], **SAFE_ENV, **PROVIDERS_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_the_sandbox_unless_allowed_on_purpose():
    env = {**SAFE_ENV, **PROVIDERS_ENV, "SANDBOX_IN_PRODUCTION": "false"}
    result = _run(["check"], **env)
    assert result.returncode != 0
    assert "providers.E005" in result.stderr
    assert "SANDBOX_IN_PRODUCTION=true" in result.stderr


def test_production_names_the_provider_settings_it_needs():
    result = _run(["check"], **SAFE_ENV)
    assert result.returncode != 0
    assert "PAYMENT_PROVIDER is 'sandbox', which is not enabled" in result.stderr


def _makefile_deploy_env() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text()
    block = re.search(r"^DEPLOY_CHECK_ENV := (.*?)\n\n", text, re.M | re.S)
    assert block, "Makefile has no DEPLOY_CHECK_ENV"
    return dict(pair.split("=", 1) for pair in block.group(1).replace("\\\n", " ").split())


def test_make_check_deploy_env_passes_the_deployment_checks():
    """The env `make check-deploy` (part of `make test`) gives production: no issue at all."""
    env = _makefile_deploy_env()
    assert env.pop("DJANGO_SETTINGS_MODULE") == "config.settings.production"
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], **env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)" in result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_runs_the_security_gates_before_pytest():
    result = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(commands) if fragment in line)

    bandit = first(
        "bandit -q -c pyproject.toml --severity-level medium -r accounting accounts config"
    )
    deploy = first("python manage.py check --deploy --fail-level WARNING")
    audit = first("manage.py audit_dependencies")
    pytest_run = first("/pytest -n 2")
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in commands[deploy]
    assert max(bandit, deploy, audit) < pytest_run
