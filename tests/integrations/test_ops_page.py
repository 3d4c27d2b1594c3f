"""The admin's ops page (integrations/ops_admin.py): who sees it, and its numbers."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.access.roles import sync_roles
from tests.factories import make_staff
from tests.support.ops_figures import seed_ops_figures

pytestmark = pytest.mark.django_db
OPS_PAGE = reverse("admin:integrations_circuitbreaker_ops")
BREAKERS = reverse("admin:integrations_circuitbreaker_changelist")
_numbers = itertools.count()
# Seven for the figures; the rest are the session, the user and their permissions.
PAGE_QUERIES = 11


def _client(role: str) -> Client:
    sync_roles()
    client = Client()
    client.force_login(make_staff(f"{role}-user-{next(_numbers)}", role=role))
    return client


def test_ops_sees_every_panel_with_a_chart_and_a_table() -> None:
    seed_ops_figures()
    response = _client("ops").get(OPS_PAGE)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    for key in (
        "inbox-backlog",
        "inbox-lag",
        "delivery-backlog",
        "delivery-failures",
        "breakers",
        "call-latency",
        "call-errors",
        "call-distribution",
        "task-queue",
        "request-latency",
    ):
        section = re.search(
            rf'<section class="ops-panel" id="panel-{key}">(.*?)</section>', html, re.S
        )
        assert section is not None, key
        assert "<svg" in section.group(1) and "<table" in section.group(1), key
    assert "<script" not in html.split('id="content-main"', 1)[1]


def test_finance_and_support_are_refused_and_see_no_link() -> None:
    for role in ("finance", "support"):
        client = _client(role)
        assert client.get(OPS_PAGE).status_code == 403
    # Finance reads the breakers but is not shown the link to a page it may not open.
    assert 'id="ops-page-link"' not in _client("finance").get(BREAKERS).content.decode()
    assert 'id="ops-page-link"' in _client("ops").get(BREAKERS).content.decode()


def test_the_page_is_read_only() -> None:
    assert _client("ops").post(OPS_PAGE).status_code == 405


def test_the_page_query_count_does_not_grow_with_rows(
    django_assert_max_num_queries: Any,
) -> None:
    client = _client("ops")
    seed_ops_figures(scale=20, providers=10)
    client.get(OPS_PAGE)  # warm: the session and the user's permissions
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert client.get(OPS_PAGE).status_code == 200
