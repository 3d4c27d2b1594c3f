"""Ops opens the ops page from the circuit breakers' list in Chromium: every chart renders as
SVG and the tables beside them show the seeded numbers (issue 16 item 4). The CSP console check
of the browser fixture keeps the page free of inline script."""

from __future__ import annotations

from django.urls import reverse

from tests.browser.conftest import Browser
from tests.factories import make_staff
from tests.support.ops_figures import seed_ops_figures

BREAKERS = reverse("admin:integrations_circuitbreaker_changelist")


def _table(browser: Browser, key: str) -> list[list[str]]:
    rows = browser.find_all(f"#panel-{key} table tbody tr")
    return [[cell.text for cell in row.find_elements("css selector", "td")] for row in rows]


def test_ops_opens_the_ops_page_and_its_charts_render(browser: Browser) -> None:
    seed_ops_figures()
    browser.sign_in(make_staff("ops", role="ops"))

    browser.visit(BREAKERS)
    browser.click("#ops-page-link")
    browser.shot("ops page")
    assert browser.path == reverse("admin:integrations_circuitbreaker_ops")

    charts = browser.find_all(".ops-panel svg")
    assert len(charts) == 10
    for chart in charts:  # drawn: a real box, with its accessible title
        size = chart.size
        assert size["width"] > 100 and size["height"] > 20
        assert chart.get_attribute("role") == "img"
    bars = browser.find_all("#panel-inbox-backlog svg rect")
    assert len(bars) == 2  # asaas, stripe
    assert all(bar.size["width"] > 0 for bar in bars)

    assert _table(browser, "inbox-backlog") == [
        ["asaas", "dead", "1"],
        ["asaas", "failed", "2"],
        ["asaas", "received", "3"],
        ["stripe", "dead", "1"],
        ["stripe", "failed", "2"],
        ["stripe", "received", "3"],
    ]
    assert _table(browser, "delivery-backlog") == [["erp.sync", "6"]]
    assert _table(browser, "delivery-failures") == [["crm.push", "3"], ["erp.sync", "2"]]
    assert _table(browser, "breakers") == [["stripe", "closed"], ["zapi", "open"]]
    assert _table(browser, "call-latency") == [
        ["stripe", "create_payment", "5", "1", "1352.0", "6000"]
    ]
    assert _table(browser, "task-queue") == [["switchboard", "7"], ["switchboard-sweepers", "1"]]
    # The chart's own titles carry the same numbers as the table beside it.
    titles = [
        t.get_attribute("textContent") for t in browser.find_all("#panel-task-queue svg g title")
    ]
    assert titles == ["switchboard: 7", "switchboard-sweepers: 1"]


def test_finance_has_no_ops_page(browser: Browser) -> None:
    browser.sign_in(make_staff("finance", role="finance"))
    browser.visit(BREAKERS)
    assert not browser.has("#ops-page-link")
    browser.visit(reverse("admin:integrations_circuitbreaker_ops"))
    assert browser.has(".permission-denied") or "403" in browser.text()
