"""Finance opens the finance dashboard from the reconciliation exceptions' list in Chromium
(issue 15 item 7): every chart renders as SVG with the seeded numbers, and the tables beside them
show the same. The CSP console check of the browser fixture keeps the page free of inline
script."""

from __future__ import annotations

from django.urls import reverse

from tests.browser.conftest import Browser
from tests.factories import make_staff
from tests.support.finance_figures import seed_finance_figures

EXCEPTIONS = reverse("admin:payments_reconciliationexception_changelist")
DASHBOARD = reverse("admin:payments_reconciliationexception_finance")


def _table(browser: Browser, key: str) -> list[list[str]]:
    rows = browser.find_all(f"#panel-{key} table tbody tr")
    return [[cell.text for cell in row.find_elements("css selector", "td")] for row in rows]


def _bar_titles(browser: Browser, key: str) -> list[str]:
    return [t.get_attribute("textContent") for t in browser.find_all(f"#panel-{key} svg g title")]


def test_finance_opens_the_dashboard_and_its_charts_render(browser: Browser) -> None:
    days = seed_finance_figures()
    browser.sign_in(make_staff("finance", role="finance"))

    browser.visit(EXCEPTIONS)
    browser.click("#finance-dashboard-link")
    browser.shot("finance dashboard")
    assert browser.path == DASHBOARD

    charts = browser.find_all(".ops-panel svg")
    assert len(charts) == 8  # seven figures and the payments matched
    for chart in charts:  # drawn: a real box, with its accessible title
        size = chart.size
        assert size["width"] > 100 and size["height"] > 20
        assert chart.get_attribute("role") == "img"
    bars = browser.find_all("#panel-volume svg rect")
    assert len(bars) == 3
    assert all(bar.size["width"] > 0 for bar in bars)

    first, second = days.first, days.second
    assert _table(browser, "volume") == [
        [first, "stripe", "BRL", "2", "R$ 150,50"],
        [second, "asaas", "BRL", "1", "R$ 200,00"],
        [second, "stripe", "USD", "1", "US$ 9.99"],
    ]
    assert _bar_titles(browser, "volume") == [
        f"{first} stripe BRL: 150.50",
        f"{second} asaas BRL: 200",
        f"{second} stripe USD: 9.99",
    ]
    assert _table(browser, "refunds") == [[second, "stripe", "BRL", "1", "R$ 20,00"]]
    assert _bar_titles(browser, "disputes") == [f"{first} stripe: 2", f"{second} asaas: 1"]
    assert _table(browser, "failure-rate")[0] == [first, "stripe", "1", "2", "33.3"]
    assert _bar_titles(browser, "exceptions-age") == [
        "< 1 day: 1",
        "1-7 days: 1",
        "7-30 days: 1",
        "> 30 days: 1",
    ]
    assert _table(browser, "exceptions-kind") == [
        ["Amount or currency mismatch", "1", "1", "0", "0", "2"],
        ["Order over-paid, refund due", "0", "0", "1", "1", "2"],
    ]
    assert _table(browser, "settlement-lines") == [
        ["asaas", "1", "0", "1", "0", "0.0"],
        ["stripe", "3", "2", "1", "0", "0.0"],
    ]


def test_support_has_no_finance_dashboard(browser: Browser) -> None:
    browser.sign_in(make_staff("support", role="support"))
    browser.visit(DASHBOARD)
    assert browser.has(".permission-denied") or "403" in browser.text()
    assert not browser.has("#finance-dashboard-link")
