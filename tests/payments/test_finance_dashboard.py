"""The admin's finance dashboard (payments/finance_dashboard.py, issue 15 item 7): who sees it,
and that its numbers are the seeded rows'."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.access.roles import sync_roles
from tests.factories import make_staff
from tests.support.finance_figures import seed_finance_figures

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("admin:payments_reconciliationexception_finance")
EXCEPTIONS = reverse("admin:payments_reconciliationexception_changelist")
PANELS = (
    "volume",
    "refunds",
    "disputes",
    "failure-rate",
    "exceptions-kind",
    "exceptions-age",
    "settlement-lines",
    "payments-matched",
)
_numbers = itertools.count()
# Seven aggregate queries for the figures; the rest are the session, the user and permissions.
PAGE_QUERIES = 11


def _client(role: str) -> Client:
    sync_roles()
    client = Client()
    client.force_login(make_staff(f"{role}-user-{next(_numbers)}", role=role))
    return client


def _section(html: str, key: str) -> str:
    found = re.search(rf'<section class="ops-panel" id="panel-{key}">(.*?)</section>', html, re.S)
    assert found is not None, key
    return found.group(1)


def _rows(html: str, key: str) -> list[list[str]]:
    body = _section(html, key).split("<tbody>", 1)[1]
    return [
        [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_finance_and_admin_see_every_panel_with_a_chart_and_a_table(role: str) -> None:
    seed_finance_figures()
    response = _client(role).get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    for key in PANELS:
        section = _section(html, key)
        assert "<svg" in section and "<table" in section, key
    assert "<script" not in html.split('id="content-main"', 1)[1]


def test_the_numbers_are_the_seeded_rows() -> None:
    days = seed_finance_figures()
    html = _client("finance").get(DASHBOARD).content.decode()
    first, second = days.first, days.second
    assert _rows(html, "volume") == [
        [first, "stripe", "BRL", "2", "R$ 150,50"],
        [second, "asaas", "BRL", "1", "R$ 200,00"],
        [second, "stripe", "USD", "1", "US$ 9.99"],
    ]
    assert _rows(html, "refunds") == [[second, "stripe", "BRL", "1", "R$ 20,00"]]
    assert _rows(html, "disputes") == [[first, "stripe", "2"], [second, "asaas", "1"]]
    assert _rows(html, "failure-rate") == [
        [first, "stripe", "1", "2", "33.3"],
        [second, "asaas", "0", "1", "0.0"],
        [second, "stripe", "0", "1", "0.0"],
    ]
    assert _rows(html, "exceptions-kind") == [
        ["Amount or currency mismatch", "1", "1", "0", "0", "2"],
        ["Order over-paid, refund due", "0", "0", "1", "1", "2"],
    ]
    assert _rows(html, "exceptions-age") == [
        ["&lt; 1 day", "1"],
        ["1-7 days", "1"],
        ["7-30 days", "1"],
        ["&gt; 30 days", "1"],
    ]
    assert _rows(html, "settlement-lines") == [
        ["asaas", "1", "0", "1", "0", "0.0"],
        ["stripe", "3", "2", "1", "0", "0.0"],
    ]
    assert _rows(html, "payments-matched") == [
        ["asaas", "1", "0", "1", "0.0"],
        ["stripe", "4", "0", "4", "0.0"],
    ]
    # The chart is a picture of the same numbers: each bar's title carries its figure.
    assert "stripe BRL: 150.50" in _section(html, "volume")
    assert "Amount or currency mismatch: 2" in _section(html, "exceptions-kind")


def test_matched_lines_and_payments_are_counted_with_their_rate() -> None:
    from payments.models import Payment
    from payments.settlements.matches import settlement_match_manual
    from payments.settlements.models import SettlementLine

    seed_finance_figures()
    line = SettlementLine.objects.filter(provider="stripe").order_by("id").first()
    payment = Payment.objects.filter(provider="stripe", status="succeeded").order_by("id").first()
    assert line is not None and payment is not None
    settlement_match_manual(
        user=make_staff(f"matcher-{next(_numbers)}", role="finance"),
        note="Seeded",
        line_ids=[line.pk],
        payment_ids=[payment.pk],
    )

    html = _client("finance").get(DASHBOARD).content.decode()

    assert ["stripe", "3", "2", "1", "1", "33.3"] in _rows(html, "settlement-lines")
    assert ["stripe", "4", "1", "3", "25.0"] in _rows(html, "payments-matched")
    assert "<title>stripe: 25" in _section(html, "payments-matched")


def test_an_empty_database_says_none() -> None:
    html = _client("finance").get(DASHBOARD).content.decode()
    for key in (
        "volume",
        "refunds",
        "disputes",
        "failure-rate",
        "settlement-lines",
        "payments-matched",
    ):
        assert _rows(html, key) == [["None."]], key
    assert _rows(html, "exceptions-age")[0] == ["&lt; 1 day", "0"]


def test_support_and_ops_are_refused_and_see_no_link() -> None:
    for role in ("support", "ops"):
        assert _client(role).get(DASHBOARD).status_code == 403
    # Neither reads the reconciliation list; finance does, and is shown the link there.
    assert _client("support").get(EXCEPTIONS).status_code == 403
    assert 'id="finance-dashboard-link"' in _client("finance").get(EXCEPTIONS).content.decode()
    assert 'id="finance-dashboard-link"' in _client("admin").get(EXCEPTIONS).content.decode()


def test_the_link_is_hidden_without_the_permission() -> None:
    from django.contrib.auth.models import Group, Permission

    sync_roles()
    limited = Group.objects.create(name="reconciler-only")
    limited.permissions.set(
        Permission.objects.filter(
            content_type__app_label="payments", codename="view_reconciliationexception"
        )
    )
    user = make_staff(f"reconciler-{next(_numbers)}")
    user.groups.add(limited)
    client = Client()
    client.force_login(user)
    page = client.get(EXCEPTIONS)
    assert page.status_code == 200
    assert 'id="finance-dashboard-link"' not in page.content.decode()
    assert client.get(DASHBOARD).status_code == 403


def test_the_page_is_read_only() -> None:
    assert _client("finance").post(DASHBOARD).status_code == 405


def test_the_page_query_count_does_not_grow_with_rows(
    django_assert_max_num_queries: Any,
) -> None:
    client = _client("finance")
    seed_finance_figures(scale=1, tag="a")
    client.get(DASHBOARD)  # warm: the session and the user's permissions
    with django_assert_max_num_queries(PAGE_QUERIES) as few:
        assert client.get(DASHBOARD).status_code == 200
    seed_finance_figures(scale=20, tag="b")
    with django_assert_max_num_queries(PAGE_QUERIES) as many:
        assert client.get(DASHBOARD).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
