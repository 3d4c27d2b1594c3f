"""One exception vocabulary: every domain refusal is a SwitchboardError with a stable code.

The first tests walk every module of the apps, so an exception class added anywhere is checked.
The last scans the apps' source: a business rule refuses with a SwitchboardError subclass, never
with a bare ValueError or PermissionError."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import integrations.facts
from integrations import exceptions
from integrations.exceptions import SwitchboardError

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "orders", "payments", "shipping", "notifications", "integrations")
CODE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


def _import_every_app_module() -> None:
    for app in APPS:
        package = importlib.import_module(app)
        for module in pkgutil.walk_packages(package.__path__, f"{app}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)


def _subclasses(cls: type[SwitchboardError]) -> Iterator[type[SwitchboardError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _app_errors() -> list[type[SwitchboardError]]:
    _import_every_app_module()
    found: set[type[SwitchboardError]] = {SwitchboardError, *_subclasses(SwitchboardError)}
    return sorted(
        (cls for cls in found if cls.__module__.split(".")[0] in APPS),
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def test_every_switchboard_error_has_its_own_unique_code_and_an_http_status() -> None:
    errors = _app_errors()
    by_code: dict[str, list[str]] = {}
    for cls in errors:
        name = f"{cls.__module__}.{cls.__qualname__}"
        assert "code" in vars(cls), f"{name} declares no code of its own"
        assert CODE.fullmatch(cls.code), f"{name}.code {cls.code!r} is not snake_case"
        assert isinstance(cls.http_status, int) and 400 <= cls.http_status <= 599, name
        assert isinstance(cls.title, str) and cls.title.strip(), f"{name} has no title"
        by_code.setdefault(cls.code, []).append(name)
    duplicates = {code: names for code, names in by_code.items() if len(names) > 1}
    assert not duplicates, duplicates
    # The walk found every app's vocabulary (a walk that imported nothing would pass above).
    assert {
        "switchboard_error",
        "invalid_transition",
        "object_not_ready",
        "amount_mismatch",
        "provider_unavailable",
        "provider_rejected",
        "signature_rejected",
        "order_not_allowed",
        "refund_exceeds_payment",
        "self_approval_forbidden",
        "reconciliation_not_allowed",
        "order_not_shippable",
        "invalid_recipient",
        "api_key_not_allowed",
        "empty_note",
        "tax_document_missing",
        "recipient_unreachable",
    } <= set(by_code)


def test_refusal_statuses_say_who_must_act() -> None:
    from integrations.webhooks.registry import SignatureRejected
    from payments.exceptions import RefundExceedsPayment, SelfApprovalForbidden

    assert exceptions.InvalidTransition.http_status == 409  # the object's state conflicts
    assert exceptions.ProviderUnavailable.http_status == 503  # try again later
    assert exceptions.CircuitOpen.http_status == 503
    assert exceptions.ProviderRejected.http_status == 502
    assert SelfApprovalForbidden.http_status == 403
    assert RefundExceedsPayment.http_status == 422
    assert SignatureRejected.http_status == 401


def test_object_not_ready_and_amount_mismatch_live_in_the_vocabulary_and_facts_reexports_them():
    assert integrations.facts.ObjectNotReady is exceptions.ObjectNotReady
    assert integrations.facts.AmountMismatch is exceptions.AmountMismatch
    assert exceptions.ObjectNotReady.__module__ == "integrations.exceptions"
    assert issubclass(exceptions.AmountMismatch, SwitchboardError)


# Where a bare ValueError stays, and why: parsing and encoding helpers, where ValueError is the
# Python idiom for bad input and the caller catches it, and guards against a programming error
# in our own code (a name registered twice, an argument no caller may pass); neither is a
# business rule, and no user, API client or provider reaches them with a refusal to report.
BARE_VALUE_ERRORS_ALLOWED = {
    ("accounts/access/oidc.py", "_discovery"): "parsing the IdP's discovery document: caught",
    ("payments/providers/asaas/client.py", "dumps"): "encoding: a non-finite Decimal",
    ("payments/providers/asaas/client.py", "_segment"): "parsing: an id that is not Asaas's",
    ("payments/providers/stripe/client.py", "LedgerHTTPClient.request"): (
        "guard: the SDK built a URL outside STRIPE_API_BASE"
    ),
    (
        "integrations/cache.py",
        "DegradingRedisCache.incr",
    ): "Django's cache API: incr of a missing key",
    (
        "integrations/outbound/client.py",
        "ProviderClient.__init__",
    ): "guard: a bad constructor argument",
    ("integrations/outbound/client.py", "ProviderClient.request"): "guard: a bad operation or key",
    (
        "integrations/deliveries/registry.py",
        "register_subscriber",
    ): "guard: a subscriber registered twice",
    (
        "integrations/webhooks/registry.py",
        "register_webhook_endpoint",
    ): "guard: an endpoint registered twice",
    ("integrations/events.py", "register_event_types"): "guard: an event type registered twice",
}
BUILTIN_REFUSALS = {"ValueError", "PermissionError"}


def _raises(tree: ast.AST) -> Iterator[tuple[str, str, int]]:
    """(enclosing function's qualified name, exception name, line) of each ``raise X`` or
    ``raise X(...)`` of a plain name."""

    def walk(node: ast.AST, scope: list[str]) -> Iterator[tuple[str, str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from walk(child, [*scope, child.name])
                continue
            if isinstance(child, ast.Raise) and child.exc is not None:
                target = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                if isinstance(target, ast.Name):
                    yield ".".join(scope), target.id, child.lineno
            yield from walk(child, scope)

    return walk(tree, [])


def _app_sources() -> Iterator[tuple[str, ast.Module]]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in relative:
                yield relative, ast.parse(path.read_text(encoding="utf-8"), relative)


def test_no_business_module_raises_a_bare_value_error() -> None:
    offenders, allowed_seen = [], set()
    value_error_classes = []
    for relative, tree in _app_sources():
        for scope, name, line in _raises(tree):
            if name not in BUILTIN_REFUSALS:
                continue
            if name == "ValueError" and (relative, scope) in BARE_VALUE_ERRORS_ALLOWED:
                allowed_seen.add((relative, scope))
            else:
                offenders.append(f"{relative}:{line} ({scope or 'module'}) raises {name}")
        value_error_classes += [
            f"{relative}:{node.lineno} {node.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(isinstance(base, ast.Name) and base.id == "ValueError" for base in node.bases)
        ]
    assert not offenders, "raise a SwitchboardError subclass instead:\n" + "\n".join(offenders)
    # A parsing helper's own error may be a ValueError; nothing else is.
    assert [entry.split(" ")[1] for entry in value_error_classes] == ["AsaasMoneyError"]
    # The allowlist names only what exists: a fixed helper leaves it, and the scan saw real code.
    assert allowed_seen == set(BARE_VALUE_ERRORS_ALLOWED), (
        set(BARE_VALUE_ERRORS_ALLOWED) - allowed_seen
    )


def test_the_scan_finds_a_bare_value_error() -> None:
    tree = ast.parse(
        "def refund(amount):\n"
        "    if amount <= 0:\n"
        "        raise ValueError('no')\n"
        "class Svc:\n"
        "    def go(self):\n"
        "        raise PermissionError\n"
    )
    assert list(_raises(tree)) == [("refund", "ValueError", 3), ("Svc.go", "PermissionError", 6)]
