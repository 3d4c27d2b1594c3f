"""Subscribers only announce: each is one call to a workflow or service (issue 9, item 6)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = [
    "orders.subscribers",
    "payments.subscribers",
    "accounting.subscribers",
    "shipping.subscribers",
    "notifications.subscribers",
    "usage.subscribers",
    "integrations.webhooks_out.subscribers",
    "integrations.analytics.subscribers",
    "accounts.crm.hubspot.subscribers",
]


def _body_without_docstring(function: ast.FunctionDef) -> list[ast.stmt]:
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return body[1:]
    return body


def _thickness(path: Path) -> list[str]:
    """What in a subscribers module is more than announcing: functions that are not one call
    to an imported name, and any statement besides imports, those functions and SUBSCRIBERS."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = _body_without_docstring(node)
            call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Expr) else None
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in imported
            ):
                found.append(f"{node.name} is not one call to an imported service")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            continue
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the module docstring
        elif isinstance(node, ast.Assign) and [
            t.id for t in node.targets if isinstance(t, ast.Name)
        ] == ["SUBSCRIBERS"]:
            continue
        else:
            found.append(f"line {node.lineno}: {type(node).__name__} besides the subscribers")
    return found


@pytest.mark.parametrize("module", MODULES)
def test_every_subscriber_is_one_call_to_a_service(module: str) -> None:
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    assert _thickness(path) == []
    handles = [s.handle for s in importlib.import_module(module).SUBSCRIBERS]
    assert handles and all(h.__module__ == module for h in handles)


def test_the_check_catches_a_subscriber_with_logic_of_its_own(tmp_path: Path) -> None:
    thick = tmp_path / "subscribers.py"
    thick.write_text(
        "from x import service\n"
        "LIMIT = 3\n"
        "def react(event):\n"
        "    if event.data:\n"
        "        service(event=event)\n"
        "def fine(event):\n"
        '    """Doc."""\n'
        "    service(event=event)\n"
        "SUBSCRIBERS = []\n"
    )
    assert _thickness(thick) == [
        "line 2: Assign besides the subscribers",
        "react is not one call to an imported service",
    ]
