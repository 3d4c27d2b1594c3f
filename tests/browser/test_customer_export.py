"""A customer's data export, downloaded by clicking the button on the customer's page."""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.urls import reverse

from accounts.models import AuditLogEntry
from tests.browser.conftest import Browser
from tests.factories import make_customer, make_order, make_paid_payment, make_staff


def _downloaded(folder: Path, name: str, seconds: float = 15) -> Path:
    target = folder / name
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if target.exists() and not list(folder.glob("*.crdownload")):
            return target
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded; folder has {list(folder.iterdir())}")


def test_support_downloads_a_customers_data_by_clicking_export(browser: Browser, tmp_path: Path):
    ana = make_customer(name="Ana Souza", email="ana@example.test")
    make_paid_payment(order=make_order(customer=ana, amount=12_000))
    support = make_staff("support", role="support")
    browser.sign_in(support)
    browser.driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.visit(reverse("admin:accounts_customer_change", args=[ana.pk]))
    browser.shot("customer page with export")

    browser.find("a.customer-export").click()
    document = json.loads(_downloaded(tmp_path, f"customer-{ana.pk}-export.json").read_text())

    assert document["customer"]["email"] == "ana@example.test"
    assert [o["total_amount"] for o in document["orders"]] == [12_000]
    assert document["orders"][0]["currency"] == "BRL"
    assert {(p["amount"], p["currency"]) for p in document["payments"]} == {(12_000, "BRL")}
    assert any(e["type"] == "order.placed" for e in document["timeline"])
    entry = AuditLogEntry.objects.get(action=AuditLogEntry.Action.EXPORT)
    assert (entry.actor, entry.object_id) == (support, str(ana.pk))


def test_sales_sees_no_export_button_and_the_link_is_refused(browser: Browser):
    ana = make_customer(name="Ana Souza", email="ana@example.test")
    browser.sign_in(make_staff("sales", role="sales"))
    browser.visit(reverse("admin:accounts_customer_change", args=[ana.pk]))
    browser.shot("no export button")
    assert browser.has("#customer_form")
    assert not browser.has("a.customer-export")

    browser.visit(reverse("admin:accounts_customer_export", args=[ana.pk]))
    assert browser.driver.title.startswith("Not allowed")  # the 403 page
    assert not AuditLogEntry.objects.filter(action=AuditLogEntry.Action.EXPORT).exists()
