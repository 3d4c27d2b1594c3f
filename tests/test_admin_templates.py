"""No admin template opens a <form> inside Django's change form (issue 11 item 1).

Django's ``admin/change_form.html`` wraps most of the page in one ``<form>``; a form a child
template puts in a block rendered inside it is dropped by the browser, and its button does
nothing (or, worse, its ``</form>`` ends Django's form early). Extra forms belong after the
change form (``{% block content %}{{ block.super }}...``), reached by ``form="..."`` attributes.
"""

from __future__ import annotations

import re
from pathlib import Path

import django.contrib.admin
import pytest
from django.conf import settings
from django.template import Template, engines
from django.template.base import Node, TextNode
from django.template.loader_tags import BlockNode, IncludeNode

DJANGO_CHANGE_FORM = Path(django.contrib.admin.__file__).parent / "templates/admin/change_form.html"
PROJECT_ADMIN_TEMPLATES = Path(settings.BASE_DIR) / "templates" / "admin"
FORM_TAG = re.compile(r"<form\b", re.IGNORECASE)
EXTENDS_CHANGE_FORM = re.compile(r"""{%\s*extends\s+["']admin/change_form\.html["']\s*%}""")


def blocks_inside_the_change_form() -> set[str]:
    """The blocks Django renders between its change form's ``<form>`` and ``</form>``."""
    source = DJANGO_CHANGE_FORM.read_text()
    start = source.index("<form ")
    end = source.index("</form>", start)
    return set(re.findall(r"{%\s*block\s+(\S+)\s*%}", source[start:end]))


def change_form_templates() -> list[Path]:
    return sorted(
        path
        for path in PROJECT_ADMIN_TEMPLATES.rglob("*.html")
        if EXTENDS_CHANGE_FORM.search(path.read_text())
    )


def _text_of(nodes: list[Node]) -> str:
    """The literal HTML of these nodes and of what they include, tags dropped."""
    parts: list[str] = []
    for node in nodes:
        for text in node.nodelist.get_nodes_by_type(TextNode) if hasattr(node, "nodelist") else []:
            parts.append(text.s)
        for include in (
            node.nodelist.get_nodes_by_type(IncludeNode) if hasattr(node, "nodelist") else []
        ):
            name = include.template.var
            if isinstance(name, str):
                included = engines["django"].get_template(name).template  # type: ignore[attr-defined]
                parts.append(_text_of([included]))
    return "".join(parts)


def forms_nested_in_the_change_form(path: Path) -> list[str]:
    """The names of this template's blocks that render a ``<form`` inside Django's form."""
    inside = blocks_inside_the_change_form()
    template = Template(path.read_text(), engine=engines["django"].engine)  # type: ignore[attr-defined]
    blocks = [
        node
        for node in template.nodelist.get_nodes_by_type(BlockNode)
        if isinstance(node, BlockNode)
    ]
    return sorted(
        block.name
        for block in blocks
        if block.name in inside and FORM_TAG.search(_text_of([block]))
    )


def test_the_blocks_inside_djangos_change_form_are_known():
    inside = blocks_inside_the_change_form()
    assert {"field_sets", "after_field_sets", "after_related_objects"} <= inside
    assert {"admin_change_form_document_ready", "submit_buttons_bottom"} <= inside
    assert "content" not in inside and "extrastyle" not in inside


def test_there_are_change_form_templates_to_check():
    names = {p.relative_to(PROJECT_ADMIN_TEMPLATES).as_posix() for p in change_form_templates()}
    assert {"accounts/customer/change_form.html", "payments/refund/change_form.html"} <= names


@pytest.mark.parametrize(
    "path", change_form_templates(), ids=lambda p: p.relative_to(PROJECT_ADMIN_TEMPLATES).as_posix()
)
def test_no_form_is_nested_in_the_change_form(path: Path):
    assert forms_nested_in_the_change_form(path) == []


def test_the_check_finds_a_nested_form(tmp_path: Path):
    nested = tmp_path / "change_form.html"
    nested.write_text(
        '{% extends "admin/change_form.html" %}'
        "{% block content %}{{ block.super }}<form id=fine></form>{% endblock %}"
        "{% block after_field_sets %}{% if x %}<div><FORM id=dropped></FORM></div>{% endif %}"
        "{% endblock %}"
        "{% block admin_change_form_document_ready %}{{ block.super }}"
        '{% include "admin/payments/refund/reject.html" %}{% endblock %}'
    )
    assert forms_nested_in_the_change_form(nested) == [
        "admin_change_form_document_ready",
        "after_field_sets",
    ]
