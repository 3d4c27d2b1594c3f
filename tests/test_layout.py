"""The design card's layout and its one-way import rule."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "integrations",
    "accounts",
    "orders",
    "payments",
    "accounting",
    "shipping",
    "notifications",
    "usage",
]
# What each app may import (besides itself, Django and libraries).
ALLOWED = {
    "integrations": set(),
    "accounts": {"integrations"},
    "orders": {"integrations", "accounts"},
    "payments": {"integrations", "accounts", "orders"},
    # The journal reads the money facts payments records; payments never imports it.
    "accounting": {"integrations", "accounts", "orders", "payments"},
    "shipping": {"integrations", "accounts", "orders"},
    "notifications": {"integrations", "accounts", "orders"},
    "usage": {"integrations", "accounts"},
}


def test_design_card_layout_exists():
    for name in ["manage.py", "pyproject.toml", "README.md", "Makefile", ".ci/run"]:
        assert (ROOT / name).is_file(), name
    for name in ["config", *APPS, "templates", "tests"]:
        assert (ROOT / name).is_dir(), name
    for module in ["base", "local", "test", "production"]:
        assert (ROOT / "config" / "settings" / f"{module}.py").is_file()


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(APPS)
    return found


@pytest.mark.parametrize("app", APPS)
def test_imports_flow_one_way(app):
    offenders = []
    for path in (ROOT / app).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        bad = _imported_apps(path) - ALLOWED[app] - {app}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_import_rule_is_checked_on_real_code():
    # Guards the test above against scanning nothing.
    assert _imported_apps(ROOT / "payments" / "services.py") >= {"orders", "integrations"}


def test_accounts_has_two_rooms():
    """Staff access (SSO, roles, re-auth, API keys, audit) and customers (records, notes, search,
    the timeline) are two sub-packages of the one ``accounts`` app (one app label)."""
    access = {p.stem for p in (ROOT / "accounts" / "access").glob("*.py")}
    customers = {p.stem for p in (ROOT / "accounts" / "customers").glob("*.py")}
    assert {"oidc", "saml", "roles", "reauth", "api_keys", "audit"} <= access
    assert {"services", "selectors", "search", "validators"} <= customers
    loose = {p.stem for p in (ROOT / "accounts").glob("*.py")}
    assert loose <= {"__init__", "admin", "apps", "events", "models"}, sorted(loose)


def test_run_demo_is_a_project_command():
    assert (ROOT / "config" / "management" / "commands" / "run_demo.py").is_file()
    assert not (ROOT / "integrations" / "management" / "commands" / "run_demo.py").exists()
